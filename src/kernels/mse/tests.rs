//! The regression loss against its f64 reference, and the reference against a closed form.
//! Every adapter; f32 sums of k squares of values below 8 carry relative errors of order
//! k·2^-24.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::mse::{self, target_bits};
use crate::rng::Pcg;

#[test]
fn reference_is_the_mean_of_squares() {
    // Predictions 1, 2, 4 against targets 0, 2.5, 1: errors 1, -0.5, 3.
    let t: Vec<u32> = [0.0, 2.5, 1.0].map(target_bits).to_vec();
    let r = mse::reference(&[1.0f64, 2.0, 4.0], &t);
    assert_eq!(r.row_losses, vec![1.0, 0.25, 9.0]);
    assert_eq!(r.loss, 10.25 / 3.0);
    assert_eq!(r.dpred, vec![2.0 / 3.0, -1.0 / 3.0, 2.0]);
}

#[test]
fn mean_squared_error() {
    for gpu in &gpus() {
        for rows in [1, 7, 256, 513] {
            for write_grad in [true, false] {
                let mut rng = Pcg::new(rows as u64, 9);
                let pred0 = rng.vec(rows, -1.0, 6.0);
                let targets0: Vec<u32> = rng
                    .vec(rows, 0.0, 5.0)
                    .into_iter()
                    .map(target_bits)
                    .collect();
                let pred = gpu.upload(&pred0, "predictions").unwrap();
                let targets = gpu.upload(&targets0, "targets").unwrap();
                let dpred = gpu.upload(&vec![7.0f32; rows], "dpred").unwrap();
                let metrics = gpu.upload(&[5.0f32; 4], "metrics").unwrap();
                let row_loss = gpu.zeros::<f32>(rows, "row losses").unwrap();
                let d = mse::prepare(
                    gpu,
                    rows,
                    (pred.view(), targets.view()),
                    dpred.view(),
                    (metrics.view(), row_loss.view()),
                    write_grad,
                )
                .unwrap();
                gpu.run(&[&d]).unwrap();
                let want = mse::reference(&pred0, &targets0);
                let what = format!("mse {rows} rows, grad {write_grad}");
                let m = gpu.read(&metrics).unwrap();
                assert_close(&format!("{what} loss"), &m[..1], &[want.loss], 1e-5, 1e-5);
                assert_eq!(m[1..3], [0.0, 0.0], "{what}: no counts for a regression");
                let rows_got = gpu.read(&row_loss).unwrap();
                assert_close(
                    &format!("{what} rows"),
                    &rows_got,
                    &want.row_losses,
                    1e-6,
                    1e-6,
                );
                let got = gpu.read(&dpred).unwrap();
                if write_grad {
                    assert_close(&format!("{what} grad"), &got, &want.dpred, 1e-7, 1e-6);
                } else {
                    assert!(got.iter().all(|&g| g == 7.0), "{what}: dpred written");
                }
            }
        }
    }
}
