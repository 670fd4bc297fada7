//! The three forms and every variant against the f64 reference, at shapes that are not
//! multiples of any tile, the variants against each other, and chunked long sums. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use super::super::launch;
use super::*;
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::matmul;
use crate::rng::Pcg;

const MATMUL_SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (7, 33, 129),
    (33, 7, 1),
    (129, 65, 33),
    (64, 64, 64),
    (128, 10, 256),
    (100, 130, 257),
];

#[test]
fn matmul_all_forms_variants_and_shapes() {
    for gpu in &gpus() {
        for variant in Variant::on(gpu) {
            for form in Form::ALL {
                for (m, n, k) in MATMUL_SHAPES {
                    let dims = Dims { m, n, k };
                    let mut rng = Pcg::new((m * 31 + n * 7 + k) as u64, 1);
                    // Operands sit at odd offsets inside larger buffers, as tensors do inside
                    // the flat parameter vector.
                    let (oa, ob, oc) = (3, 5, 11);
                    let a_host = rng.vec(oa + m * k, -1.0, 1.0);
                    let b_host = rng.vec(ob + k * n, -1.0, 1.0);
                    let c_init = rng.vec(oc + m * n, -1.0, 1.0);
                    let a = gpu.upload(&a_host, "A").unwrap();
                    let b = gpu.upload(&b_host, "B").unwrap();
                    let want = matmul::reference(form, dims, &a_host[oa..], &b_host[ob..]);
                    for accumulate in [false, true] {
                        let c = gpu.upload(&c_init, "C").unwrap();
                        let d = matmul::prepare(
                            gpu,
                            variant,
                            form,
                            dims,
                            a.slice(oa, m * k).unwrap(),
                            b.slice(ob, k * n).unwrap(),
                            c.slice(oc, m * n).unwrap(),
                            accumulate,
                        )
                        .unwrap();
                        gpu.run(&[&d]).unwrap();
                        let got = gpu.read(&c).unwrap();
                        assert_eq!(got[..oc], c_init[..oc], "matmul wrote before its offset");
                        let want: Vec<f64> = want
                            .iter()
                            .zip(&c_init[oc..])
                            .map(|(w, &c0)| if accumulate { w + c0 as f64 } else { *w })
                            .collect();
                        let what = format!(
                            "{} matmul {} {form:?} {m}x{n}x{k} acc={accumulate}",
                            gpu.adapter.short(),
                            variant.name()
                        );
                        assert_close(&what, &got[oc..], &want, 1e-6 * k as f64 + 1e-6, 0.0);
                    }
                }
            }
        }
    }
}

#[test]
fn matmul_variants_agree_with_the_f64_product() {
    // The storage variants split this sum (k = 300) into slices and the register ones do not,
    // so their bits may differ: each is checked against the f64 product instead.
    for gpu in &gpus() {
        let dims = Dims {
            m: 70,
            n: 45,
            k: 300,
        };
        let mut rng = Pcg::new(9, 0);
        let (a0, b0) = (rng.vec(70 * 300, -1.0, 1.0), rng.vec(300 * 45, -1.0, 1.0));
        let a = gpu.upload(&a0, "A").unwrap();
        let b = gpu.upload(&b0, "B").unwrap();
        let want = matmul::reference(Form::AB, dims, &a0, &b0);
        for v in Variant::on(gpu) {
            let c = gpu.zeros::<f32>(70 * 45, "C").unwrap();
            let d = matmul::prepare(gpu, v, Form::AB, dims, a.view(), b.view(), c.view(), false)
                .unwrap();
            gpu.run(&[&d]).unwrap();
            let what = format!("{} {}", gpu.adapter.short(), v.name());
            let tol = 1e-6 * (dims.k as f64).sqrt() * 10.0;
            assert_close(&what, &gpu.read(&c).unwrap(), &want, tol, 0.0);
        }
    }
}

#[test]
fn matmul_longer_than_a_texture_row_runs_in_chunks() {
    // The register variant stages k/4 texels per row; past the device's texture width the
    // product is split into accumulated chunks of k.
    for gpu in &gpus() {
        let k = 4 * gpu.limits.max_texture_dimension_2d as usize + 37;
        for form in [Form::AtB, Form::AB, Form::ABt] {
            let dims = Dims { m: 5, n: 6, k };
            let mut rng = Pcg::new(k as u64, 10);
            let a0 = rng.vec(5 * k, -1.0, 1.0);
            let b0 = rng.vec(6 * k, -1.0, 1.0);
            let a = gpu.upload(&a0, "A").unwrap();
            let b = gpu.upload(&b0, "B").unwrap();
            let c = gpu.zeros::<f32>(30, "C").unwrap();
            let d = matmul::prepare(
                gpu,
                Variant::Register,
                form,
                dims,
                a.view(),
                b.view(),
                c.view(),
                false,
            )
            .unwrap();
            assert!(d.launches() > 3, "expected several chunks");
            gpu.run(&[&d]).unwrap();
            let want = matmul::reference(form, dims, &a0, &b0);
            assert_close(
                &format!("{} chunked {form:?} k={k}", gpu.adapter.short()),
                &gpu.read(&c).unwrap(),
                &want,
                1e-6 * (k as f64).sqrt() * 10.0,
                0.0,
            );
        }
    }
}

/// The fused epilogues against the kernels they replace, bit for bit, in every variant: the
/// product then `bias` then `relu` (forward), and the product then ReLU's backward with the
/// ReLU's output as the mask; also after a chunked long sum, whose epilogue runs once.
#[test]
fn fused_epilogues_equal_the_unfused_kernels_bit_for_bit() {
    use crate::kernels::{bias, relu};
    for gpu in &gpus() {
        let long = 4 * gpu.limits.max_texture_dimension_2d as usize + 37;
        for variant in Variant::on(gpu) {
            for (form, (m, n, k)) in [
                (Form::ABt, (128, 256, 784)),
                (Form::AB, (33, 65, 129)),
                (Form::AtB, (7, 9, long)),
            ] {
                let dims = Dims { m, n, k };
                let mut rng = Pcg::new((m + n + k) as u64, 4);
                let a = gpu.upload(&rng.vec(m * k, -1.0, 1.0), "A").unwrap();
                let b = gpu.upload(&rng.vec(k * n, -1.0, 1.0), "B").unwrap();
                let bias_v = gpu.upload(&rng.vec(n + 3, -1.0, 1.0), "bias").unwrap();
                // A ReLU output: zero in about half the places, as the mask is in training.
                let mask_host: Vec<f32> = rng
                    .vec(m * n, -1.0, 1.0)
                    .into_iter()
                    .map(|v| v.max(0.0))
                    .collect();
                let mask = gpu.upload(&mask_host, "mask").unwrap();
                let bias_at = bias_v.slice(3, n).unwrap();
                let what = format!(
                    "{} {form:?} {dims:?} on {}",
                    variant.name(),
                    gpu.adapter.short()
                );
                // Forward: product + bias + ReLU.
                let fused = gpu.zeros::<f32>(m * n, "fused").unwrap();
                let epi = Epilogue {
                    bias: Some(bias_at),
                    relu: true,
                    mask: None,
                };
                let ops = (a.view(), b.view(), fused.view());
                let d = prepare_fused(gpu, variant, form, dims, ops, false, epi).unwrap();
                gpu.run(&[&d]).unwrap();
                let plain = gpu.zeros::<f32>(m * n, "plain").unwrap();
                let activated = gpu.zeros::<f32>(m * n, "activated").unwrap();
                // The product alone, as the unfused layers run it.
                let plain_product = || {
                    let (av, bv, cv) = (a.view(), b.view(), plain.view());
                    prepare(gpu, variant, form, dims, av, bv, cv, false).unwrap()
                };
                let shape = bias::BiasShape {
                    outer: m,
                    channels: n,
                    inner: 1,
                };
                let p = plain_product();
                let add = bias::prepare_add(gpu, shape, bias_at, plain.view()).unwrap();
                let act =
                    relu::prepare_forward(gpu, m * n, plain.view(), activated.view()).unwrap();
                gpu.run(&[&p, &add, &act]).unwrap();
                let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
                assert_eq!(
                    bits(gpu.read(&fused).unwrap()),
                    bits(gpu.read(&activated).unwrap()),
                    "bias+relu {what}"
                );
                // Backward: product masked by the ReLU's output.
                let epi = Epilogue {
                    mask: Some(mask.view()),
                    ..Epilogue::default()
                };
                let ops = (a.view(), b.view(), fused.view());
                let d = prepare_fused(gpu, variant, form, dims, ops, false, epi).unwrap();
                gpu.run(&[&d]).unwrap();
                let p = plain_product();
                let back =
                    relu::prepare_backward(gpu, m * n, plain.view(), activated.view(), mask.view())
                        .unwrap();
                gpu.run(&[&p, &back]).unwrap();
                let got = gpu.read(&fused).unwrap();
                assert_eq!(
                    bits(got.clone()),
                    bits(gpu.read(&activated).unwrap()),
                    "mask {what}"
                );
                assert!(
                    got.iter().any(|v| *v != 0.0) && got.contains(&0.0),
                    "{what}: {got:?}"
                );
            }
        }
    }
}

/// Every candidate tile of the tiled variant, and the subgroup kernel where the device has
/// subgroups, against the f64 reference, in every form, at shapes that are not multiples of
/// any tile (k = 20000 runs as chunks), and bit for bit against the classic tile: the tile
/// sizes and the subgroup's shuffles change speed, never the sums.
#[test]
fn every_tile_configuration_gives_the_classic_tiles_bits() {
    use super::epilogue;
    use super::tile::Tile;
    use super::tiled::Kernel;
    for gpu in &gpus() {
        let mut kernels: Vec<Kernel> = Tile::CANDIDATES.map(Kernel::Tiled).to_vec();
        if Variant::Subgroup.runs_on(gpu) {
            kernels.push(Kernel::Subgroup);
        }
        for form in Form::ALL {
            for (m, n, k) in [(129, 65, 33), (7, 200, 70), (64, 64, 64), (7, 9, 20000)] {
                let dims = Dims { m, n, k };
                let mut rng = Pcg::new((m + n + k) as u64, 6);
                let a_host = rng.vec(m * k, -1.0, 1.0);
                let b_host = rng.vec(k * n, -1.0, 1.0);
                let (a, b) = (
                    gpu.upload(&a_host, "A").unwrap(),
                    gpu.upload(&b_host, "B").unwrap(),
                );
                let want = matmul::reference(form, dims, &a_host, &b_host);
                let mut classic = None;
                for &kernel in &kernels {
                    let c = gpu.zeros::<f32>(m * n, "C").unwrap();
                    let epi = epilogue::params(gpu, dims, c.view(), Epilogue::default()).unwrap();
                    let reps = launch::Replicas::of("matmul", &[(1, 0); 3]).unwrap();
                    let ops = (a.view(), b.view(), c.view());
                    let d = tiled::prepare_storage(
                        gpu,
                        kernel,
                        dims,
                        form.transposes(),
                        ops,
                        (reps, false),
                        &epi,
                    )
                    .unwrap();
                    gpu.run(&[&d]).unwrap();
                    let got = gpu.read(&c).unwrap();
                    let what = format!("{kernel:?} {form:?} {dims:?} on {}", gpu.adapter.short());
                    // f32 sums of k terms in [-1, 1]: errors of order k·2^-24 times the terms.
                    let tol = 1e-6 * k as f64;
                    assert_close(&what, &got, &want, tol, 1e-5);
                    let bits: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                    match &classic {
                        None => classic = Some(bits),
                        Some(c) => assert!(c == &bits, "{what}: differs from the classic tile"),
                    }
                }
            }
        }
    }
}

/// The tiled kernel's vec4 loads stage the same values as its scalar loads: the same product
/// with its operands at element offset 0 (vec4 loads, where the shape allows) and at offset 1
/// (scalar loads) gives the same bits, in every form and for every candidate tile.
#[test]
fn vec4_and_scalar_loads_give_the_same_bits() {
    use super::epilogue;
    use super::tile::Tile;
    use super::tiled::{Chunk, Kernel, vec_loads};
    for gpu in &gpus() {
        for form in Form::ALL {
            for (m, n, k) in [(64, 64, 64), (12, 200, 36), (132, 68, 20)] {
                let dims = Dims { m, n, k };
                let mut rng = Pcg::new((m * n + k) as u64, 12);
                let (a_host, b_host) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0));
                let shifted = |v: &[f32]| [&[7.0f32][..], v].concat();
                let a = [
                    gpu.upload(&a_host, "A"),
                    gpu.upload(&shifted(&a_host), "A+1"),
                ];
                let b = [
                    gpu.upload(&b_host, "B"),
                    gpu.upload(&shifted(&b_host), "B+1"),
                ];
                let (a, b) = (a.map(Result::unwrap), b.map(Result::unwrap));
                let reps = launch::Replicas::of("matmul", &[(1, 0); 3]).unwrap();
                for tile in Tile::CANDIDATES {
                    let mut bits: Vec<Vec<u32>> = Vec::new();
                    for off in [0, 1] {
                        let (ta, tb) = form.transposes();
                        let (lda, ldb) = (if ta { m } else { k }, if tb { k } else { n });
                        let chunk = Chunk {
                            dims,
                            offsets: (off, off, 0),
                            lds: (lda, ldb),
                            accumulate: false,
                            split: (1, k),
                        };
                        let vec = vec_loads(tile, &chunk, (ta, tb), reps);
                        assert_eq!(vec, (off == 0, off == 0), "{form:?} {dims:?} {tile}");
                        let c = gpu.zeros::<f32>(m * n, "C").unwrap();
                        let epi =
                            epilogue::params(gpu, dims, c.view(), Epilogue::default()).unwrap();
                        let ops = (
                            a[off].slice(off, m * k).unwrap(),
                            b[off].slice(off, k * n).unwrap(),
                            c.view(),
                        );
                        let d = tiled::prepare_storage(
                            gpu,
                            Kernel::Tiled(tile),
                            dims,
                            (ta, tb),
                            ops,
                            (reps, false),
                            &epi,
                        )
                        .unwrap();
                        gpu.run(&[&d]).unwrap();
                        bits.push(gpu.read(&c).unwrap().iter().map(|v| v.to_bits()).collect());
                    }
                    let what = format!("{form:?} {dims:?} {tile} on {}", gpu.adapter.short());
                    assert!(bits[0] == bits[1], "{what}: vec4 and scalar loads differ");
                }
            }
        }
    }
}
