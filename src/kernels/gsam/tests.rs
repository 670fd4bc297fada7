//! GSAM's update gradient against its f64 reference on every adapter, and α = 0 giving the
//! perturbed gradient itself, bit for bit.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::gsam;
use crate::rng::Pcg;

#[test]
fn gsam_decomposition_matches_its_reference() {
    for gpu in &gpus() {
        for (n, alpha) in [(1, 0.3), (5, 0.1), (1000, 0.4), (70_001, 1.0)] {
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
            let out = gpu.zeros::<f32>(n, "out").unwrap();
            let d = gsam::prepare(gpu, alpha, g.view(), gp.view(), out.view()).unwrap();
            assert_eq!(d.launches(), 5);
            gpu.run(&[&d]).unwrap();
            let got = gpu.read(&out).unwrap();
            let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
            let want = gsam::reference(alpha as f64, &f64s(&g0), &f64s(&gp0));
            assert_close(
                &format!("gsam n={n} alpha={alpha}"),
                &got,
                &want,
                1e-6,
                1e-5,
            );
            // α = 0: the perturbed gradient, to the bit.
            let d = gsam::prepare(gpu, 0.0, g.view(), gp.view(), out.view()).unwrap();
            gpu.run(&[&d]).unwrap();
            assert!(
                gpu.read(&out).unwrap() == gp0,
                "{}: alpha 0 changed gp",
                gpu.adapter.short()
            );
        }
        // Operands of other lengths, or out sharing a buffer, are refused.
        let a = gpu.zeros::<f32>(8, "a").unwrap();
        let b = gpu.zeros::<f32>(4, "b").unwrap();
        assert!(gsam::prepare(gpu, 0.1, a.view(), b.view(), b.view()).is_err());
        assert!(gsam::prepare(gpu, 0.1, a.view(), a.view(), a.view()).is_err());
    }
}
