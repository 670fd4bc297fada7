//! tanh against its f64 reference on every adapter, over inputs far past where exp(2x)
//! overflows, and the reference's derivative against central differences.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::tanh;
use crate::rng::Pcg;

#[test]
fn tanh_forward_backward() {
    for gpu in &gpus() {
        for n in [1, 7, 33, 1000, 70_001] {
            let mut rng = Pcg::new(n as u64, 41);
            let mut x0 = rng.vec(n, -6.0, 6.0);
            // Past exp's range, and tiny values, where a naive (e^2x − 1)/(e^2x + 1) gives NaN
            // or loses every digit.
            for (k, v) in [100.0, -100.0, 45.0, -3e38, 1e-30, -1e-7, 0.0]
                .iter()
                .enumerate()
            {
                if k < n {
                    x0[k] = *v;
                }
            }
            let dy0 = rng.vec(n, -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let y = gpu.zeros::<f32>(n, "y").unwrap();
            let dy = gpu.upload(&dy0, "dy").unwrap();
            let dx = gpu.zeros::<f32>(n, "dx").unwrap();
            let f = tanh::prepare_forward(gpu, n, x.view(), y.view()).unwrap();
            let b = tanh::prepare_backward(gpu, n, dy.view(), dx.view(), y.view()).unwrap();
            gpu.run(&[&f, &b]).unwrap();
            let what = |s: &str| format!("tanh {s} n={n} {}", gpu.adapter.short());
            let got = gpu.read(&y).unwrap();
            assert!(got.iter().all(|v| v.is_finite()), "{}", what("finite"));
            // 1 − t and 1 + t each round once, the quotient once: a few ulp of 1.
            assert_close(&what("fwd"), &got, &tanh::reference_forward(&x0), 5e-7, 0.0);
            let want = tanh::reference_backward(&dy0, &x0);
            assert_close(&what("bwd"), &gpu.read(&dx).unwrap(), &want, 2e-6, 0.0);
        }
    }
}

#[test]
fn reference_backward_matches_central_differences() {
    let xs = [-3.0f64, -0.7, 0.0, 0.2, 1.5, 4.0];
    let h = 1e-6;
    for &x in &xs {
        let fd = ((x + h).tanh() - (x - h).tanh()) / (2.0 * h);
        let got = tanh::reference_backward(&[1.0], &[x])[0];
        assert!((got - fd).abs() < 1e-8, "x = {x}: {got} against {fd}");
    }
}
