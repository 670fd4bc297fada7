//! Dropout against its f64 reference on every adapter, and the mask's statistics.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::dropout;
use crate::rng::Pcg;

#[test]
fn dropout_matches_the_reference_per_replica() {
    for gpu in &gpus() {
        for (n, rate) in [(1usize, 0.5), (7, 0.25), (1030, 0.1), (70_001, 0.3)] {
            let stride = n.next_multiple_of(4);
            let mut rng = Pcg::new(n as u64, 5);
            let x0 = rng.vec(2 * stride, -1.0, 1.0);
            let data = gpu.upload(&x0, "data").unwrap();
            let keys = gpu.upload(&[11u32, 0, 0, 0, 12, 0, 0, 0], "keys").unwrap();
            let d = dropout::prepare(
                gpu,
                (n, rate, 3),
                data.slice(0, n).unwrap().repeated(2, stride).unwrap(),
                keys.replicas(2),
            )
            .unwrap();
            gpu.run(&[&d]).unwrap();
            let got = gpu.read(&data).unwrap();
            for (r, key) in [(0, 11), (1, 12)] {
                let x: Vec<f64> = x0[r * stride..r * stride + n]
                    .iter()
                    .map(|&v| v as f64)
                    .collect();
                let want = dropout::reference(&x, key, 3, rate);
                let at = r * stride;
                assert_close(
                    &format!("{} dropout n={n} replica {r}", gpu.adapter.short()),
                    &got[at..at + n],
                    &want,
                    0.0,
                    // Two f32 roundings (the scale, the product): at most 2^-23 relative.
                    1.25e-7,
                );
                // The padding after n keeps its values.
                assert_eq!(&got[at + n..at + stride], &x0[at + n..at + stride]);
            }
        }
    }
}

#[test]
fn masks_drop_the_rate_and_differ_between_keys_and_sites() {
    let n = 200_000;
    let mask =
        |key, site| -> Vec<bool> { (0..n).map(|e| dropout::keep(key, site, e, 0.3)).collect() };
    let a = mask(1, 0);
    let dropped = a.iter().filter(|&&k| !k).count() as f64 / n as f64;
    // Binomial standard deviation sqrt(0.21 / n) ≈ 0.001.
    assert!((dropped - 0.3).abs() < 0.005, "dropped {dropped}");
    for other in [mask(2, 0), mask(1, 1)] {
        // Independent masks drop the same element with probability 0.09.
        let both = a.iter().zip(&other).filter(|(x, y)| !**x && !**y).count() as f64 / n as f64;
        assert!((both - 0.09).abs() < 0.005, "both dropped {both}");
    }
    assert!((0..n).all(|e| dropout::keep(5, 2, e, 0.0)));
    assert_eq!(dropout::threshold(0.5), 1 << 31);
}
