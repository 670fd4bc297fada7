//! The two combinations against their f64 references on every adapter: GSAM's form (and
//! α = 0 giving the perturbed gradient itself, bit for bit), LookSAM's projection (orthogonal
//! to g) and its rescaled reuse.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::combine;
use crate::rng::Pcg;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn combinations_match_their_references() {
    for gpu in &gpus() {
        for (n, alpha) in [(1, 0.3), (5, 0.1), (1000, 0.7), (70_001, 2.0)] {
            let mut rng = Pcg::new(n as u64, 11);
            let g0 = rng.vec(n, -1.0, 1.0);
            // gp leans on g, as a perturbed gradient does, so c is far from 0.
            let gp0: Vec<f32> = g0
                .iter()
                .map(|&g| 0.8 * g + rng.uniform(-0.5, 0.5))
                .collect();
            let (g, gp) = (
                gpu.upload(&g0, "g").unwrap(),
                gpu.upload(&gp0, "gp").unwrap(),
            );
            let (g64, gp64) = (f64s(&g0), f64s(&gp0));
            let out = gpu.zeros::<f32>(n, "out").unwrap();
            let run = |d: crate::kernels::Dispatch| {
                gpu.run(&[&d]).unwrap();
                gpu.read(&out).unwrap()
            };
            // GSAM: gp − α·(g − c·gp).
            let uv = (1.0, -alpha);
            let d = combine::prepare_orthogonal(gpu, uv, g.view(), gp.view(), out.view());
            let d = d.unwrap();
            assert_eq!(d.launches(), 5);
            let want = combine::reference_orthogonal((1.0, -alpha as f64), &g64, &gp64);
            let what = format!("gsam n={n} alpha={alpha}");
            assert_close(&what, &run(d), &want, 1e-6, 1e-5);
            // α = 0: the perturbed gradient, to the bit.
            let d = combine::prepare_orthogonal(gpu, (1.0, 0.0), g.view(), gp.view(), out.view());
            let name = gpu.adapter.short();
            assert!(run(d.unwrap()) == gp0, "{name}: alpha 0 changed gp");
            // LookSAM's g_v: the part of gp orthogonal to g.
            let d = combine::prepare_orthogonal(gpu, (0.0, 1.0), gp.view(), g.view(), out.view());
            let v0 = run(d.unwrap());
            let want = combine::reference_orthogonal((0.0, 1.0), &gp64, &g64);
            assert_close(&format!("project n={n}"), &v0, &want, 1e-6, 1e-5);
            if n > 1 {
                let dot: f64 = want.iter().zip(&g64).map(|(a, b)| a * b).sum();
                assert!(dot.abs() < 1e-9 * n as f64, "g_v · g = {dot}");
            }
            // LookSAM's reuse: g + α·(‖g‖/‖g_v‖)·g_v.
            let v = gpu.upload(&v0, "g_v").unwrap();
            let d = combine::prepare_rescaled(gpu, alpha, g.view(), v.view(), out.view());
            let want = combine::reference_rescaled(alpha as f64, &g64, &f64s(&v0));
            let what = format!("reuse n={n} alpha={alpha}");
            assert_close(&what, &run(d.unwrap()), &want, 1e-6, 1e-5);
        }
        // Operands of other lengths, or out sharing a buffer, are refused.
        let a = gpu.zeros::<f32>(8, "a").unwrap();
        let b = gpu.zeros::<f32>(4, "b").unwrap();
        let uv = (1.0, 0.1);
        assert!(combine::prepare_orthogonal(gpu, uv, a.view(), b.view(), b.view()).is_err());
        assert!(combine::prepare_orthogonal(gpu, uv, a.view(), a.view(), a.view()).is_err());
        assert!(combine::prepare_rescaled(gpu, 0.7, a.view(), a.view(), a.view()).is_err());
    }
}
