//! Split-k (`split.rs`, launched by `tiled.rs`) against the f64 product, and its bits run to run.

use super::super::launch;
use super::*;
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::matmul;
use crate::rng::Pcg;

/// Split-k: products with a small output and a long sum (a convolution's weight gradient)
/// split into slices on many workgroups, in every storage kernel and form, with C's old value,
/// the epilogue and two replicas, against the f64 product; the same bits on a second run.
#[test]
fn split_k_products_match_the_f64_product_and_repeat_their_bits() {
    use super::epilogue;
    use super::split;
    use super::tile::Tile;
    use super::tiled::Kernel;
    for gpu in &gpus() {
        let mut kernels = vec![Kernel::Tiled(Tile::CANDIDATES[0])];
        if Variant::Subgroup.require(gpu).is_ok() {
            kernels.push(Kernel::Subgroup);
        }
        // k = 4100 leaves a short last slice; 20000 needs slices within CHUNK on a CPU.
        for (m, n, k) in [(16, 36, 4100), (8, 9, 20000), (5, 7, 600)] {
            let dims = Dims { m, n, k };
            let plan = split::plan(dims, (1, 1), gpu.adapter.is_cpu()).unwrap();
            assert!(
                plan.count >= 2 && plan.last >= 1 && plan.last <= plan.len,
                "{plan:?}"
            );
            for form in Form::ALL {
                let (ta, tb) = form.transposes();
                let mut rng = Pcg::new((m + n + k) as u64, 13);
                let a0 = rng.vec(2 * m * k, -1.0, 1.0);
                let b0 = rng.vec(2 * k * n, -1.0, 1.0);
                let c0 = rng.vec(2 * m * n, -1.0, 1.0);
                let bias0 = rng.vec(2 * n, -1.0, 1.0);
                let a = gpu.upload(&a0, "A").unwrap();
                let b = gpu.upload(&b0, "B").unwrap();
                let bias = gpu.upload(&bias0, "bias").unwrap();
                let reps =
                    launch::Replicas::of("matmul", &[(2, m * k), (2, k * n), (2, m * n)]).unwrap();
                for kernel in &kernels {
                    let mut runs = Vec::new();
                    for _ in 0..2 {
                        let c = gpu.upload(&c0, "C").unwrap();
                        let e = Epilogue {
                            bias: Some(bias.replicas(2)),
                            relu: true,
                            mask: None,
                        };
                        let c_view = c.replicas(2);
                        let epi = epilogue::params(gpu, dims, c_view, e).unwrap();
                        let ops = (
                            a.slice(0, m * k).unwrap(),
                            b.slice(0, k * n).unwrap(),
                            c_view,
                        );
                        let d = tiled::prepare_storage(
                            gpu,
                            *kernel,
                            dims,
                            (ta, tb),
                            ops,
                            (reps, true),
                            &epi,
                        )
                        .unwrap();
                        assert_eq!(d.launches(), 2, "one split product and its reduction");
                        gpu.run(&[&d]).unwrap();
                        runs.push(gpu.read(&c).unwrap());
                    }
                    let what = format!("{} {kernel:?} {form:?} {dims:?}", gpu.adapter.short());
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&runs[0]), bits(&runs[1]), "{what}: not deterministic");
                    for r in 0..2 {
                        let a_r = &a0[r * m * k..(r + 1) * m * k];
                        let b_r = &b0[r * k * n..(r + 1) * k * n];
                        let product = matmul::reference(form, dims, a_r, b_r);
                        let want: Vec<f64> = (0..m * n)
                            .map(|i| {
                                let v = c0[r * m * n + i] as f64
                                    + product[i]
                                    + bias0[r * n + i % n] as f64;
                                v.max(0.0)
                            })
                            .collect();
                        let got = &runs[0][r * m * n..(r + 1) * m * n];
                        assert_close(
                            &format!("{what} replica {r}"),
                            got,
                            &want,
                            1e-6 * (k as f64).sqrt() * 10.0,
                            0.0,
                        );
                    }
                }
            }
        }
    }
}

/// The buffer split products share their partial sums in (`Gpu::scratch`): one per name,
/// shared by shorter requests, replaced by a longer one rounded up to a power of two.
#[test]
fn scratch_is_shared_by_what_it_holds_and_grows_by_powers_of_two() {
    for gpu in &gpus() {
        let a = gpu.scratch::<f32>(100, "test scratch a").unwrap();
        assert_eq!(a.len, 128);
        // Shorter and equal requests share it; another name gets its own.
        assert!(gpu.scratch::<f32>(128, "test scratch a").unwrap().buffer == a.buffer);
        assert!(gpu.scratch::<f32>(5, "test scratch a").unwrap().buffer == a.buffer);
        assert!(gpu.scratch::<f32>(5, "test scratch b").unwrap().buffer != a.buffer);
        // A longer one replaces it for later requests; clones of the old one live on.
        let b = gpu.scratch::<f32>(129, "test scratch a").unwrap();
        assert!(b.buffer != a.buffer && b.len == 256);
        assert!(gpu.scratch::<f32>(7, "test scratch a").unwrap().buffer == b.buffer);
    }
}
