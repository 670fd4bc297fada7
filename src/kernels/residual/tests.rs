//! The residual add and the shortcut's backward against the f64 reference on every adapter,
//! and the reference shortcut's backward against its forward (it must be the adjoint). The
//! kernels only add and copy, so they must match exactly.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::residual::{self, Shortcut};
use crate::rng::Pcg;

fn shapes() -> [Shortcut; 3] {
    let s = |n, cin, hin, win, cout, stride| Shortcut {
        n,
        cin,
        hin,
        win,
        cout,
        stride,
    };
    [
        s(2, 8, 5, 5, 8, 1),
        s(2, 16, 8, 8, 32, 2),
        s(1, 4, 7, 7, 12, 2),
    ]
}

#[test]
fn residual_add_and_shortcut_backward() {
    for gpu in &gpus() {
        for s in shapes() {
            let (inp, out) = s.lens();
            let mut rng = Pcg::new(inp as u64, 4);
            let (a0, x0) = (rng.vec(out, -1.0, 1.0), rng.vec(inp, -1.0, 1.0));
            let (dy0, dx0) = (rng.vec(out, -1.0, 1.0), rng.vec(inp, -1.0, 1.0));
            for relu in [false, true] {
                let a = gpu.upload(&a0, "a").unwrap();
                let x = gpu.upload(&x0, "x").unwrap();
                let y = gpu.zeros::<f32>(out, "y").unwrap();
                let dy = gpu.upload(&dy0, "dy").unwrap();
                let dx = gpu.upload(&dx0, "dx").unwrap();
                let views = (a.view(), x.view(), y.view());
                let f = residual::prepare_forward(gpu, s, relu, views).unwrap();
                let views = (dy.view(), y.view(), dx.view());
                let b = residual::prepare_backward(gpu, s, relu, views).unwrap();
                gpu.run(&[&f, &b]).unwrap();
                let short = residual::reference_shortcut(s, &x0);
                let want_y: Vec<f64> = a0
                    .iter()
                    .zip(&short)
                    .map(|(&a, s)| (a as f64 + s).max(if relu { 0.0 } else { f64::MIN }))
                    .collect();
                let what = format!("{s:?} relu={relu}");
                assert_close(
                    &format!("{what} y"),
                    &gpu.read(&y).unwrap(),
                    &want_y,
                    0.0,
                    0.0,
                );
                let gated: Vec<f64> = dy0
                    .iter()
                    .zip(&want_y)
                    .map(|(&d, &y)| if relu && y <= 0.0 { 0.0 } else { d as f64 })
                    .collect();
                let back = residual::reference_shortcut_backward(s, &gated);
                let want_dx: Vec<f64> = dx0.iter().zip(back).map(|(&d, b)| d as f64 + b).collect();
                let got = gpu.read(&dx).unwrap();
                assert_close(&format!("{what} dx"), &got, &want_dx, 1e-7, 0.0);
            }
        }
    }
}

/// ⟨S(x), g⟩ = ⟨x, Sᵀ(g)⟩ for random x and g: the backward is the forward's adjoint.
#[test]
fn shortcut_backward_is_the_adjoint() {
    for s in shapes() {
        let (inp, out) = s.lens();
        let mut rng = Pcg::new(9, 9);
        let (x, g) = (rng.vec(inp, -1.0, 1.0), rng.vec(out, -1.0, 1.0));
        let lhs: f64 = residual::reference_shortcut(s, &x)
            .iter()
            .zip(&g)
            .map(|(a, &b)| a * b as f64)
            .sum();
        let rhs: f64 = residual::reference_shortcut_backward(s, &g)
            .iter()
            .zip(&x)
            .map(|(a, &b)| a * b as f64)
            .sum();
        assert!((lhs - rhs).abs() < 1e-9, "{s:?}: {lhs} vs {rhs}");
        assert!(lhs.abs() > 1e-3, "{s:?}: a vacuous check");
    }
}
