//! LookSAM's combinations against their f64 references on every adapter: the projection is
//! orthogonal to g, and the reuse adds v at α times g's norm.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::looksam;
use crate::rng::Pcg;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn looksam_combinations_match_their_references() {
    for gpu in &gpus() {
        for (n, alpha) in [(1, 0.7), (5, 0.1), (1000, 0.7), (70_001, 2.0)] {
            let mut rng = Pcg::new(n as u64, 12);
            let g0 = rng.vec(n, -1.0, 1.0);
            // gs leans on g, as a perturbed gradient does, so the projection takes a real part.
            let gs0: Vec<f32> = g0
                .iter()
                .map(|&g| 0.8 * g + rng.uniform(-0.5, 0.5))
                .collect();
            let (g, gs) = (
                gpu.upload(&g0, "g").unwrap(),
                gpu.upload(&gs0, "gs").unwrap(),
            );
            let v = gpu.zeros::<f32>(n, "v").unwrap();
            let d = looksam::prepare_project(gpu, g.view(), gs.view(), v.view()).unwrap();
            assert_eq!(d.launches(), 5);
            gpu.run(&[&d]).unwrap();
            let got = gpu.read(&v).unwrap();
            let want = looksam::reference_project(&f64s(&g0), &f64s(&gs0));
            assert_close(&format!("project n={n}"), &got, &want, 1e-6, 1e-5);
            if n > 1 {
                let dot: f64 = want.iter().zip(&f64s(&g0)).map(|(a, b)| a * b).sum();
                assert!(dot.abs() < 1e-9 * n as f64, "g_v · g = {dot}");
            }
            let out = gpu.zeros::<f32>(n, "out").unwrap();
            let d = looksam::prepare_reuse(gpu, alpha, g.view(), v.view(), out.view()).unwrap();
            gpu.run(&[&d]).unwrap();
            let want = looksam::reference_reuse(alpha as f64, &f64s(&g0), &f64s(&got));
            let name = format!("reuse n={n} alpha={alpha}");
            assert_close(&name, &gpu.read(&out).unwrap(), &want, 1e-6, 1e-5);
        }
        // Operands of other lengths, or out sharing a buffer, are refused.
        let a = gpu.zeros::<f32>(8, "a").unwrap();
        let b = gpu.zeros::<f32>(4, "b").unwrap();
        assert!(looksam::prepare_project(gpu, a.view(), b.view(), b.view()).is_err());
        assert!(looksam::prepare_reuse(gpu, 0.7, a.view(), a.view(), a.view()).is_err());
    }
}
