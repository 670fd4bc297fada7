//! The microbenchmark kernels against their references, on every adapter: the copy is exact,
//! and 3 read-modify-writes match the f64 reference to 3 roundings of values below 1 (halving
//! is exact; adding 0.25 rounds to 24 bits, 2^-24 ≈ 6e-8 at most per step).

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::membench;
use crate::rng::Pcg;

#[test]
fn copy_and_rmw_match_their_references() {
    for gpu in &gpus() {
        for n in [4, 1024, 70_000] {
            let x0 = Pcg::new(n as u64, 8).vec(n, -1.0, 1.0);
            let src = gpu.upload(&x0, "src").unwrap();
            let dst = gpu.zeros::<f32>(n, "dst").unwrap();
            let copy = membench::prepare_copy(gpu, n, &src, &dst).unwrap();
            let rmw = membench::prepare_rmw(gpu, n, &dst).unwrap();
            let noop = membench::prepare_noop(gpu).unwrap();
            gpu.run(&[&copy]).unwrap();
            let want: Vec<f64> = x0.iter().map(|&v| v as f64).collect();
            let what = format!("{}: copy n={n}", gpu.adapter.short());
            assert_close(&what, &gpu.read(&dst).unwrap(), &want, 0.0, 0.0);
            gpu.run(&[&rmw, &noop, &rmw, &rmw]).unwrap();
            let want = membench::reference_rmw(&x0, 3);
            let what = format!("{}: rmw n={n}", gpu.adapter.short());
            assert_close(
                &what,
                &gpu.read(&dst).unwrap(),
                &want,
                3.0 * 2f64.powi(-24),
                0.0,
            );
        }
    }
}

#[test]
fn sizes_that_are_not_whole_vectors_are_refused() {
    let gpu = &gpus()[0];
    let a = gpu.zeros::<f32>(8, "a").unwrap();
    let err = membench::prepare_copy(gpu, 6, &a, &a)
        .unwrap_err()
        .to_string();
    assert!(err.contains("multiple of 4"), "{err}");
    let err = membench::prepare_rmw(gpu, 12, &a).unwrap_err().to_string();
    assert!(err.contains("12 elements"), "{err}");
}
