//! Max pooling (with and without the fused ReLU) against the f64 reference. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use crate::gpu::testing::{assert_close, gpus};
use crate::rng::Pcg;

#[test]
fn maxpool_forward_backward() {
    use crate::kernels::maxpool::{self, PoolShape};
    let mut saw_empty_window = false;
    for gpu in &gpus() {
        for (n, h, w, c) in [(1, 2, 2, 1), (2, 5, 7, 3), (3, 28, 28, 32), (2, 14, 14, 64)] {
            let s = PoolShape { n, h, w, c };
            let mut rng = Pcg::new((n * h * w * c) as u64, 9);
            // Coarse values make ties common, which must go to the first position.
            let x0: Vec<f32> = (0..s.input_len()).map(|_| rng.below(5) as f32).collect();
            let y = gpu.zeros::<f32>(s.output_len(), "y").unwrap();
            let arg = gpu.zeros::<u32>(s.output_len(), "arg").unwrap();
            let dy0 = rng.vec(s.output_len(), -1.0, 1.0);
            let dy = gpu.upload(&dy0, "dy").unwrap();
            for relu in [false, true] {
                // With relu, shift the values so that some windows are all ≤ 0.
                let xs: Vec<f32> = x0.iter().map(|v| if relu { v - 2.0 } else { *v }).collect();
                let x = gpu.upload(&xs, "x").unwrap();
                let dx = gpu.upload(&vec![9.0f32; s.input_len()], "dx").unwrap();
                let f =
                    maxpool::prepare_forward(gpu, s, relu, x.view(), y.view(), arg.view()).unwrap();
                let b =
                    maxpool::prepare_backward(gpu, s, dy.view(), dx.view(), arg.view()).unwrap();
                gpu.run(&[&f, &b]).unwrap();
                let (want_y, want_arg) = maxpool::reference_forward(s, relu, &xs);
                let what = format!("pool {s:?} relu={relu}");
                assert_close(
                    &format!("{what} fwd"),
                    &gpu.read(&y).unwrap(),
                    &want_y,
                    0.0,
                    0.0,
                );
                assert_eq!(gpu.read(&arg).unwrap(), want_arg, "{what} winners");
                saw_empty_window |= relu && want_arg.contains(&4);
                let want = maxpool::reference_backward(s, &dy0, &want_arg);
                assert_close(
                    &format!("{what} bwd"),
                    &gpu.read(&dx).unwrap(),
                    &want,
                    0.0,
                    0.0,
                );
            }
        }
    }
    assert!(
        saw_empty_window,
        "the fused ReLU case must meet windows that are all ≤ 0"
    );
}

/// Windows of any size, stride and padding, overlapping ones included, against the f64
/// reference: exact winners and outputs, and backward sums (an input pixel that wins up to
/// four 3×3 stride-2 windows, nine at stride 1) within f32 rounding of a few terms.
#[test]
fn windowed_maxpool_forward_backward() {
    use crate::kernels::maxpool::window::{self, WindowShape};
    let mut multiple_wins = false;
    for gpu in &gpus() {
        for (n, h, w, c, k, stride, pad) in [
            (2, 8, 8, 3, 3, 2, 1),
            (1, 7, 9, 5, 3, 2, 1),
            (2, 5, 6, 4, 3, 1, 1),
            (1, 6, 6, 2, 2, 2, 0),
            (1, 9, 7, 3, 5, 3, 2),
            (2, 16, 16, 64, 3, 2, 1),
        ] {
            let s = WindowShape {
                n,
                h,
                w,
                c,
                k,
                stride,
                pad,
            };
            let mut rng = Pcg::new((n * h * w * c * k) as u64, 11);
            // Coarse values make ties common, which must go to the first position; negative
            // ones check that padding never wins.
            let xs: Vec<f32> = (0..s.input_len())
                .map(|_| rng.below(5) as f32 - 4.0)
                .collect();
            let x = gpu.upload(&xs, "x").unwrap();
            let y = gpu.zeros::<f32>(s.output_len(), "y").unwrap();
            let arg = gpu.zeros::<u32>(s.output_len(), "arg").unwrap();
            let dy0 = rng.vec(s.output_len(), -1.0, 1.0);
            let dy = gpu.upload(&dy0, "dy").unwrap();
            let dx = gpu.upload(&vec![9.0f32; s.input_len()], "dx").unwrap();
            let f = window::prepare_forward(gpu, s, x.view(), y.view(), arg.view()).unwrap();
            let b = window::prepare_backward(gpu, s, dy.view(), dx.view(), arg.view()).unwrap();
            gpu.run(&[&f, &b]).unwrap();
            let (want_y, want_arg) = window::reference_forward(s, &xs);
            let what = format!("pool {s:?}");
            assert_close(
                &format!("{what} fwd"),
                &gpu.read(&y).unwrap(),
                &want_y,
                0.0,
                0.0,
            );
            assert_eq!(gpu.read(&arg).unwrap(), want_arg, "{what} winners");
            let want = window::reference_backward(s, &dy0, &want_arg);
            assert_close(
                &format!("{what} bwd"),
                &gpu.read(&dx).unwrap(),
                &want,
                1e-6,
                1e-6,
            );
            let ones = window::reference_backward(s, &vec![1.0f32; s.output_len()], &want_arg);
            multiple_wins |= ones.iter().any(|&v| v > 1.0);
        }
    }
    assert!(multiple_wins, "some pixel must win overlapping windows");
    let bad = WindowShape {
        n: 1,
        h: 4,
        w: 4,
        c: 1,
        k: 3,
        stride: 2,
        pad: 2,
    };
    assert_eq!(bad.out_hw(), None, "padding over half the window");
}
