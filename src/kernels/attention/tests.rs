//! Attention's core against its f64 reference on every adapter, and the reference's backward
//! against finite differences of its forward. Tolerances: sums of head_dim or tokens products
//! of values in [-1, 1] carry f32 errors of order (terms)·2^-24.

use super::{AttnShape, reference_backward, reference_forward};
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::attention;
use crate::rng::Pcg;

#[test]
fn attention_forward_backward() {
    // (batch, tokens, heads, head_dim, replicas): vit-2-64-4-p7's 17 tokens of 4 heads of 16,
    // tiles cut at every edge, one head, and two replicas.
    let cases = [
        (2, 17, 4, 16, 1),
        (1, 5, 1, 3, 1),
        (3, 33, 2, 8, 2),
        (1, 50, 3, 20, 1),
    ];
    for gpu in &gpus() {
        for (batch, tokens, heads, head_dim, reps) in cases {
            let s = AttnShape {
                batch,
                tokens,
                heads,
                head_dim,
            };
            let mut rng = Pcg::new((tokens * heads) as u64, 38);
            let qkv0 = rng.vec(reps * s.qkv_len(), -1.5, 1.5);
            let dout0 = rng.vec(reps * s.out_len(), -1.0, 1.0);
            let qkv = gpu.upload(&qkv0, "qkv").unwrap();
            let dout = gpu.upload(&dout0, "dout").unwrap();
            let probs = gpu.zeros::<f32>(reps * s.probs_len(), "probs").unwrap();
            let dprobs = gpu.zeros::<f32>(reps * s.probs_len(), "dprobs").unwrap();
            let out = gpu.zeros::<f32>(reps * s.out_len(), "out").unwrap();
            let dqkv = gpu.zeros::<f32>(reps * s.qkv_len(), "dqkv").unwrap();
            let f = attention::prepare_forward(
                gpu,
                s,
                qkv.replicas(reps),
                probs.replicas(reps),
                out.replicas(reps),
            )
            .unwrap();
            let b = attention::prepare_backward(
                gpu,
                s,
                (qkv.replicas(reps), probs.replicas(reps)),
                dout.replicas(reps),
                dprobs.replicas(reps),
                dqkv.replicas(reps),
            )
            .unwrap();
            gpu.run(&[&f, &b]).unwrap();
            let (probs, out, dqkv) = (
                gpu.read(&probs).unwrap(),
                gpu.read(&out).unwrap(),
                gpu.read(&dqkv).unwrap(),
            );
            for k in 0..reps {
                let what = format!("{} {s:?} replica {k}", gpu.adapter.short());
                let q = &qkv0[k * s.qkv_len()..][..s.qkv_len()];
                let (want_p, want_o) = reference_forward(s, q);
                let p = &probs[k * s.probs_len()..][..s.probs_len()];
                assert_close(&format!("probs {what}"), p, &want_p, 1e-6, 1e-5);
                let o = &out[k * s.out_len()..][..s.out_len()];
                assert_close(&format!("out {what}"), o, &want_o, 2e-6, 1e-5);
                let d = &dout0[k * s.out_len()..][..s.out_len()];
                let want_d = reference_backward(s, q, d);
                let got_d = &dqkv[k * s.qkv_len()..][..s.qkv_len()];
                assert_close(&format!("dqkv {what}"), got_d, &want_d, 5e-6, 1e-5);
            }
        }
    }
}

#[test]
fn reference_backward_matches_finite_differences() {
    let s = AttnShape {
        batch: 2,
        tokens: 3,
        heads: 2,
        head_dim: 2,
    };
    let mut rng = Pcg::new(5, 38);
    let qkv: Vec<f64> = rng
        .vec(s.qkv_len(), -1.0, 1.0)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let dout: Vec<f64> = rng
        .vec(s.out_len(), -1.0, 1.0)
        .iter()
        .map(|&v| v as f64)
        .collect();
    // L = Σ dout · out, so dL/dqkv = dqkv.
    let loss = |x: &[f64]| -> f64 {
        let out = reference_forward(s, x).1;
        out.iter().zip(&dout).map(|(a, b)| a * b).sum()
    };
    let grad = reference_backward(s, &qkv, &dout);
    let h = 1e-6;
    for i in 0..qkv.len() {
        let (mut up, mut down) = (qkv.clone(), qkv.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (loss(&up) - loss(&down)) / (2.0 * h);
        assert!(
            (fd - grad[i]).abs() < 1e-8,
            "dqkv[{i}]: {} vs {fd}",
            grad[i]
        );
    }
    // Softmax ignores a shift common to a row: the keys' gradient sums to zero over tokens.
    let w = s.width();
    for b in 0..s.batch {
        for f in 0..w {
            let sum: f64 = (0..s.tokens)
                .map(|j| grad[((b * s.tokens + j) * 3 + 1) * w + f])
                .sum();
            assert!(sum.abs() < 1e-12, "Σ_j dK[{b}, j, {f}] = {sum}");
        }
    }
}
