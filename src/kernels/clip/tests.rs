//! The clip on every adapter against its f64 reference, clipping and not.

use super::*;
use crate::gpu::testing::{assert_close, gpus};
use crate::rng::Pcg;

#[test]
fn the_clip_scales_the_mixed_gradient_only_when_its_norm_exceeds_the_bound() {
    for gpu in &gpus() {
        for (n, lambda) in [(1, 0.0), (1000, 0.3), (10_007, 1.0)] {
            let mut rng = Pcg::new(n as u64, 23);
            let (a0, b0) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
            let vector = |d: &[f32]| {
                let b = gpu.zeros_rows(n, "clip vector").unwrap();
                gpu.write(&b, 0, d).unwrap();
                b
            };
            let (a, b, g) = (vector(&a0), vector(&b0), vector(&vec![0.0; n]));
            let l = lambda as f64;
            let mixed: Vec<f64> = a0
                .iter()
                .zip(&b0)
                .map(|(&a, &b)| (1.0 - l) * a as f64 + l * b as f64)
                .collect();
            let norm = mixed.iter().map(|v| v * v).sum::<f64>().sqrt();
            // A bound below the norm clips; one above leaves g as it is.
            for (bound, clips) in [(0.5 * norm, true), (2.0 * norm, false)] {
                let how = (lambda, bound as f32);
                let clip = Clip::prepare(gpu, [a.view(), b.view()], g.view(), how).unwrap();
                gpu.run(&[&clip.dispatch]).unwrap();
                let mut want = mixed.clone();
                assert_eq!(reference(bound as f32, &mut want), clips);
                let what = format!(
                    "{} n={n} lambda={lambda} bound={bound}",
                    gpu.adapter.short()
                );
                assert_close(&what, &gpu.read(&g).unwrap(), &want, 1e-6, 1e-5);
                let got = gpu.read(clip.norm_sq()).unwrap()[0] as f64;
                assert!(
                    (got - norm * norm).abs() <= 1e-5 * norm * norm,
                    "{what}: ‖g‖² {got}"
                );
            }
        }
    }
}
