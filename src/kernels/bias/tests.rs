//! Bias add and bias gradient against the f64 reference. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use super::*;
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::bias;
use crate::rng::Pcg;

#[test]
fn bias_add_and_grad() {
    for gpu in &gpus() {
        for (outer, channels, inner) in [
            (1, 1, 1),
            (7, 33, 1),
            (128, 10, 1),
            (3, 5, 49),
            (2, 32, 196),
            // 4200 terms per channel: past the one-invocation entry's limit.
            (2, 3, 2100),
        ] {
            let shape = BiasShape {
                outer,
                channels,
                inner,
            };
            let n = outer * channels * inner;
            let mut rng = Pcg::new(n as u64, 2);
            let params = rng.vec(channels + 4, -1.0, 1.0);
            let y0 = rng.vec(n, -1.0, 1.0);
            let pbuf = gpu.upload(&params, "params").unwrap();
            let y = gpu.upload(&y0, "y").unwrap();
            let d =
                bias::prepare_add(gpu, shape, pbuf.slice(4, channels).unwrap(), y.view()).unwrap();
            gpu.run(&[&d]).unwrap();
            let want = bias::reference_add(shape, &params[4..], &y0);
            assert_close(
                &format!("bias_add {shape:?}"),
                &gpu.read(&y).unwrap(),
                &want,
                1e-6,
                1e-6,
            );

            let g0 = rng.vec(channels + 2, -1.0, 1.0);
            let want = bias::reference_grad(shape, &y0);
            for accumulate in [false, true] {
                let g = gpu.upload(&g0, "grad").unwrap();
                let dy = gpu.upload(&y0, "dy").unwrap();
                let d = bias::prepare_grad(
                    gpu,
                    shape,
                    dy.view(),
                    g.slice(2, channels).unwrap(),
                    accumulate,
                )
                .unwrap();
                gpu.run(&[&d]).unwrap();
                let got = gpu.read(&g).unwrap();
                assert_eq!(got[..2], g0[..2]);
                let want: Vec<f64> = want
                    .iter()
                    .zip(&g0[2..])
                    .map(|(w, &g)| if accumulate { w + g as f64 } else { *w })
                    .collect();
                let tol = 1e-6 * (outer * inner) as f64;
                assert_close(
                    &format!("bias_grad {shape:?} acc={accumulate}"),
                    &got[2..],
                    &want,
                    tol,
                    0.0,
                );
            }
        }
    }
}

/// The two entries of `bias_grad.wgsl` add in the same order, so on the same tensor the
/// one-invocation-per-channel entry gives the workgroup entry's bits (each forced here; the
/// test above checks the entry `prepare_grad` picks against f64).
#[test]
fn both_bias_grad_entries_give_the_same_bits() {
    for gpu in &gpus() {
        for (outer, channels, inner) in [(128, 256, 1), (7, 33, 1), (3, 5, 49), (130, 70, 1)] {
            let shape = BiasShape {
                outer,
                channels,
                inner,
            };
            let mut rng = Pcg::new((outer * channels) as u64, 8);
            let dy = gpu.upload(&rng.vec(shape.len(), -1.0, 1.0), "dy").unwrap();
            let mut bits = Vec::new();
            for entry in ["bias_grad", "bias_grad_lanes"] {
                let db = gpu.zeros::<f32>(channels, "db").unwrap();
                let d = super::prepare_grad_with(gpu, entry, shape, dy.view(), db.view(), false)
                    .unwrap();
                gpu.run(&[&d]).unwrap();
                let got = gpu.read(&db).unwrap();
                bits.push(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            }
            assert_eq!(bits[0], bits[1], "{shape:?} on {}", gpu.adapter.short());
        }
    }
}

/// A linear layer's bias gradient read from the weight gradient's staged dyᵀ gives the storage
/// entries' bits. The staged form is handed a zero dy buffer beside the texture, so it matches
/// only if it really reads the texture.
#[test]
fn the_bias_grad_from_staged_dy_gives_the_same_bits() {
    use crate::kernels::matmul::{self, Dims, Epilogue, Form, Variant};
    for gpu in &gpus() {
        for (outer, channels) in [(128, 256), (7, 33), (130, 70), (4096, 3)] {
            for (replicas, accumulate) in [(1, false), (2, true)] {
                let shape = BiasShape {
                    outer,
                    channels,
                    inner: 1,
                };
                let inp = 12;
                let mut rng = Pcg::new((outer * channels) as u64, 9);
                let mut upload = |len: usize, what| {
                    gpu.upload(&rng.vec(replicas * len, -1.0, 1.0), what)
                        .unwrap()
                };
                let (dy, x) = (upload(outer * channels, "dy"), upload(outer * inp, "x"));
                let dw = gpu.zeros::<f32>(replicas * channels * inp, "dw").unwrap();
                let db0 = upload(channels, "db");
                let zeros = gpu.zeros::<f32>(dy.len, "zero dy").unwrap();
                let dims = Dims {
                    m: channels,
                    n: inp,
                    k: outer,
                };
                let operands = (
                    dy.replicas(replicas),
                    x.replicas(replicas),
                    dw.replicas(replicas),
                );
                let (product, staged) = matmul::prepare_staged(
                    gpu,
                    Variant::Register,
                    Form::AtB,
                    dims,
                    operands,
                    (false, Epilogue::default()),
                )
                .unwrap();
                let what = format!("{shape:?} ×{replicas} on {}", gpu.adapter.short());
                let staged = staged.unwrap_or_else(|| panic!("{what}: dyᵀ was not staged"));
                let [db_staged, db_plain] = [0, 1].map(|_| {
                    let b = gpu.zeros::<f32>(db0.len, "db").unwrap();
                    gpu.write(&b, 0, &gpu.read(&db0).unwrap()).unwrap();
                    b
                });
                let from_texels = prepare_grad_staged(
                    gpu,
                    shape,
                    (zeros.replicas(replicas), Some(&staged)),
                    db_staged.replicas(replicas),
                    accumulate,
                )
                .unwrap();
                let plain = prepare_grad(
                    gpu,
                    shape,
                    dy.replicas(replicas),
                    db_plain.replicas(replicas),
                    accumulate,
                )
                .unwrap();
                gpu.run(&[&product, &from_texels, &plain]).unwrap();
                let bits = |b: &crate::gpu::GpuBuf<f32>| -> Vec<u32> {
                    gpu.read(b).unwrap().iter().map(|v| v.to_bits()).collect()
                };
                assert_eq!(bits(&db_staged), bits(&db_plain), "{what}");
            }
        }
    }
}
