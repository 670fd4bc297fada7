//! Attention's core against its f64 reference on every adapter, and the reference's backward
//! against finite differences of its forward. Tolerances: sums of head_dim or tokens products
//! of values in [-1, 1] carry f32 errors of order (terms)·2^-24.

use super::{
    AttnShape, reference_backward, reference_backward_dropped, reference_backward_masked,
    reference_forward, reference_forward_dropped, reference_forward_masked,
};
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

/// Hugging Face's layout: separate queries, keys and values, and a key mask read from a text
/// batch (ids, types, mask per example), against the masked reference on every adapter.
#[test]
fn masked_attention_on_separate_qkv() {
    // (batch, tokens, heads, head_dim, replicas)
    let cases = [(3, 9, 4, 16, 1), (2, 70, 2, 8, 2), (1, 5, 1, 3, 1)];
    for gpu in &gpus() {
        for (batch, tokens, heads, head_dim, reps) in cases {
            let s = AttnShape {
                batch,
                tokens,
                heads,
                head_dim,
            };
            let (t, w) = (tokens, s.width());
            let mut rng = Pcg::new((tokens * heads) as u64, 39);
            // Each example keeps its first `len` keys; the first example keeps them all.
            let mut text = Vec::new();
            for _ in 0..reps {
                for b in 0..batch {
                    let len = if b == 0 {
                        t
                    } else {
                        1 + rng.below(t as u32) as usize
                    };
                    text.extend(std::iter::repeat_n(5.0, 2 * t));
                    text.extend((0..t).map(|j| (j < len) as u32 as f32));
                }
            }
            let parts: Vec<Vec<f32>> = (0..3)
                .map(|_| rng.vec(reps * s.out_len(), -1.5, 1.5))
                .collect();
            let dout0 = rng.vec(reps * s.out_len(), -1.0, 1.0);
            let up = |v: &[f32], what| gpu.upload(v, what).unwrap();
            let (q, k, v) = (up(&parts[0], "q"), up(&parts[1], "k"), up(&parts[2], "v"));
            let (x, dout) = (up(&text, "text"), up(&dout0, "dout"));
            let z = |n: usize, what| gpu.zeros::<f32>(reps * n, what).unwrap();
            let (probs, dprobs) = (z(s.probs_len(), "probs"), z(s.probs_len(), "dprobs"));
            let out = z(s.out_len(), "out");
            let (dq, dk, dv) = (
                z(s.out_len(), "dq"),
                z(s.out_len(), "dk"),
                z(s.out_len(), "dv"),
            );
            fn all(b: &crate::gpu::GpuBuf<f32>, reps: usize) -> crate::kernels::View<'_> {
                b.replicas(reps)
            }
            let r = |b| all(b, reps);
            let mask = attention::KeyMask {
                x: r(&x),
                offset: 2 * t,
                stride: 3 * t,
            };
            let qkv = attention::Qkv::Separate([r(&q), r(&k), r(&v)]);
            let f = attention::prepare_forward_masked(
                gpu,
                s,
                qkv,
                (r(&probs), r(&out)),
                (Some(mask), None),
            )
            .unwrap();
            let b = attention::prepare_backward_any(
                gpu,
                s,
                (qkv, r(&probs)),
                r(&dout),
                r(&dprobs),
                (attention::Qkv::Separate([r(&dq), r(&dk), r(&dv)]), None),
            )
            .unwrap();
            gpu.run(&[&f, &b]).unwrap();
            let read = |b: &crate::gpu::GpuBuf<f32>| gpu.read(b).unwrap();
            let (probs, out) = (read(&probs), read(&out));
            let grads = [read(&dq), read(&dk), read(&dv)];
            for rep in 0..reps {
                let what = format!("{} {s:?} replica {rep}", gpu.adapter.short());
                let slice = |v: &[f32], n: usize| v[rep * n..][..n].to_vec();
                // The fused layout the reference takes: per token, q then k then v.
                let mut fused = Vec::with_capacity(s.qkv_len());
                for row in 0..batch * t {
                    for p in &parts {
                        fused.extend_from_slice(&slice(p, s.out_len())[row * w..][..w]);
                    }
                }
                let mask: Vec<f64> = (0..batch)
                    .flat_map(|b| {
                        let at = (rep * batch + b) * 3 * t + 2 * t;
                        text[at..at + t]
                            .iter()
                            .map(|&m| m as f64)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let (want_p, want_o) = reference_forward_masked(s, &fused, Some(&mask));
                let got_p = slice(&probs, s.probs_len());
                assert_close(&format!("probs {what}"), &got_p, &want_p, 1e-6, 1e-5);
                // Masked keys get exactly 0, as Hugging Face's additive mask gives in f32.
                for (i, &p) in got_p.iter().enumerate() {
                    let (b, j) = (i / (heads * t * t), i % t);
                    if mask[b * t + j] == 0.0 {
                        assert_eq!(p, 0.0, "probs[{i}] {what}");
                    }
                }
                let got_o = slice(&out, s.out_len());
                assert_close(&format!("out {what}"), &got_o, &want_o, 2e-6, 1e-5);
                let d = slice(&dout0, s.out_len());
                let want = reference_backward_masked(s, &fused, &d, Some(&mask));
                for (part, got) in grads.iter().enumerate() {
                    let want: Vec<f64> = (0..batch * t)
                        .flat_map(|row| want[(row * 3 + part) * w..][..w].to_vec())
                        .collect();
                    let got = slice(got, s.out_len());
                    assert_close(&format!("d{part} {what}"), &got, &want, 5e-6, 1e-5);
                }
            }
        }
    }
}

/// A masked key changes nothing: moving its key and value leaves the outputs, and the masked
/// reference's gradient with respect to them is zero.
#[test]
fn masked_keys_change_nothing() {
    let s = AttnShape {
        batch: 2,
        tokens: 4,
        heads: 2,
        head_dim: 3,
    };
    let w = s.width();
    let mut rng = Pcg::new(6, 39);
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
    // Example 1 keeps its first two keys.
    let mask = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0];
    let (_, out) = reference_forward_masked(s, &qkv, Some(&mask));
    let mut moved = qkv.clone();
    for j in 2..4 {
        for f in 0..2 * w {
            moved[((s.tokens + j) * 3 + 1) * w + f] += 10.0;
        }
    }
    assert_eq!(reference_forward_masked(s, &moved, Some(&mask)).1, out);
    let grad = reference_backward_masked(s, &qkv, &dout, Some(&mask));
    for j in 2..4 {
        for f in 0..2 * w {
            assert_eq!(grad[((s.tokens + j) * 3 + 1) * w + f], 0.0);
        }
    }
    // And the mask matters: without it the outputs move.
    assert_ne!(reference_forward(s, &moved).1, reference_forward(s, &qkv).1);
    // The masked reference's gradient against central differences.
    let loss = |x: &[f64]| -> f64 {
        let out = reference_forward_masked(s, x, Some(&mask)).1;
        out.iter().zip(&dout).map(|(a, b)| a * b).sum()
    };
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
}

/// Dropout on the probabilities (BERT's): the GPU against the reference with the same masks,
/// on every adapter, two replicas with keys of their own; and the reference's backward
/// against central differences (the masks fixed by the key, the loss is smooth).
#[test]
fn dropped_attention_matches_the_reference() {
    let s = AttnShape {
        batch: 2,
        tokens: 7,
        heads: 2,
        head_dim: 4,
    };
    let (reps, rate, site) = (2, 0.3f32, 9u32);
    let keys0 = [11u32, 0, 0, 0, 12, 0, 0, 0];
    let mut rng = Pcg::new(7, 39);
    let qkv0 = rng.vec(reps * s.qkv_len(), -1.5, 1.5);
    let dout0 = rng.vec(reps * s.out_len(), -1.0, 1.0);
    for gpu in &gpus() {
        let up = |v: &[f32], what| gpu.upload(v, what).unwrap();
        let (qkv, dout) = (up(&qkv0, "qkv"), up(&dout0, "dout"));
        let keys = gpu.upload(&keys0, "keys").unwrap();
        let z = |n: usize, what| gpu.zeros::<f32>(reps * n, what).unwrap();
        let (probs, dropped, dprobs) = (
            z(s.probs_len(), "probs"),
            z(s.probs_len(), "dropped"),
            z(s.probs_len(), "dprobs"),
        );
        let (out, dqkv) = (z(s.out_len(), "out"), z(s.qkv_len(), "dqkv"));
        let drop = attention::AttnDropout {
            dropped: dropped.replicas(reps),
            keys: keys.replicas(reps),
            rate,
            site,
        };
        let fused = attention::Qkv::Fused(qkv.replicas(reps));
        let f = attention::prepare_forward_masked(
            gpu,
            s,
            fused,
            (probs.replicas(reps), out.replicas(reps)),
            (None, Some(drop)),
        )
        .unwrap();
        let b = attention::prepare_backward_any(
            gpu,
            s,
            (fused, probs.replicas(reps)),
            dout.replicas(reps),
            dprobs.replicas(reps),
            (attention::Qkv::Fused(dqkv.replicas(reps)), Some(drop)),
        )
        .unwrap();
        gpu.run(&[&f, &b]).unwrap();
        let (out, dqkv) = (gpu.read(&out).unwrap(), gpu.read(&dqkv).unwrap());
        for rep in 0..reps {
            let what = format!("{} replica {rep}", gpu.adapter.short());
            let q = &qkv0[rep * s.qkv_len()..][..s.qkv_len()];
            let d = &dout0[rep * s.out_len()..][..s.out_len()];
            let drop = Some((keys0[4 * rep], site, rate));
            let (_, want_o) = reference_forward_dropped(s, q, None, drop);
            let got_o = &out[rep * s.out_len()..][..s.out_len()];
            assert_close(&format!("out {what}"), got_o, &want_o, 3e-6, 1e-5);
            let want_d = reference_backward_dropped(s, q, d, (None, drop));
            let got_d = &dqkv[rep * s.qkv_len()..][..s.qkv_len()];
            assert_close(&format!("dqkv {what}"), got_d, &want_d, 6e-6, 1e-5);
            // Dropout changed something.
            let (_, plain) = reference_forward(s, q);
            assert!(plain.iter().zip(&want_o).any(|(a, b)| (a - b).abs() > 1e-3));
        }
    }
    let q: Vec<f64> = qkv0[..s.qkv_len()].iter().map(|&v| v as f64).collect();
    let d: Vec<f64> = dout0[..s.out_len()].iter().map(|&v| v as f64).collect();
    let drop = Some((11, site, rate));
    let mask = [
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0,
    ];
    let loss = |x: &[f64]| -> f64 {
        let out = reference_forward_dropped(s, x, Some(&mask), drop).1;
        out.iter().zip(&d).map(|(a, b)| a * b).sum()
    };
    let grad = reference_backward_dropped(s, &q, &d, (Some(&mask), drop));
    let h = 1e-6;
    for i in 0..q.len() {
        let (mut up, mut down) = (q.clone(), q.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (loss(&up) - loss(&down)) / (2.0 * h);
        assert!(
            (fd - grad[i]).abs() < 1e-8,
            "dqkv[{i}]: {} vs {fd}",
            grad[i]
        );
    }
}
