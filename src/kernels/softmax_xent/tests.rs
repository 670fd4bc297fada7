//! Softmax cross-entropy (loss, top-1 and top-5 counts, gradient) against the f64 reference. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::softmax_xent;
use crate::rng::Pcg;

#[test]
fn softmax_cross_entropy() {
    for gpu in &gpus() {
        for (rows, classes) in [(1, 2), (7, 10), (128, 10), (300, 100), (513, 3)] {
            for smoothing in [0.0f32, 0.1] {
                let mut rng = Pcg::new((rows * classes) as u64, 4);
                let logits0 = rng.vec(rows * classes, -4.0, 4.0);
                let labels0: Vec<u32> = (0..rows).map(|_| rng.below(classes as u32)).collect();
                let logits = gpu.upload(&logits0, "logits").unwrap();
                let labels = gpu.upload(&labels0, "labels").unwrap();
                let dlogits = gpu.zeros::<f32>(rows * classes, "dlogits").unwrap();
                let metrics = gpu.zeros::<f32>(4, "metrics").unwrap();
                let row_loss = gpu.zeros::<f32>(rows, "row losses").unwrap();
                let d = softmax_xent::prepare(
                    gpu,
                    rows,
                    classes,
                    smoothing,
                    logits.view(),
                    labels.view(),
                    dlogits.view(),
                    (metrics.view(), row_loss.view()),
                    true,
                )
                .unwrap();
                gpu.run(&[&d]).unwrap();
                let want =
                    softmax_xent::reference(rows, classes, smoothing as f64, &logits0, &labels0);
                let m = gpu.read(&metrics).unwrap();
                let what = format!("xent {rows}x{classes} eps={smoothing}");
                assert_close(&format!("{what} loss"), &m[..1], &[want.loss], 1e-5, 1e-5);
                assert_eq!(m[1] as usize, want.correct, "{what}: correct count");
                let rows_got = gpu.read(&row_loss).unwrap();
                assert_close(
                    &format!("{what} rows"),
                    &rows_got,
                    &want.row_losses,
                    1e-6,
                    1e-5,
                );
                assert_eq!(m[2] as usize, want.top5, "{what}: top-5 count");
                // With 5 classes or fewer every label is in the top 5; with 100, about 5 %.
                if classes <= 5 {
                    assert_eq!(want.top5, rows);
                } else if classes == 100 {
                    assert!(want.top5 > want.correct && want.top5 < rows / 4, "{what}");
                }
                assert_close(
                    &format!("{what} grad"),
                    &gpu.read(&dlogits).unwrap(),
                    &want.dlogits,
                    1e-7,
                    1e-4,
                );
            }
        }
    }
}
