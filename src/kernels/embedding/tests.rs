//! The embeddings against their f64 reference on every adapter: repeated ids (whose gradients
//! add), rows no token uses (whose stale gradients must be cleared), two replicas, and a
//! gradient buffer that starts dirty.

use super::{TextShape, reference_backward, reference_forward};
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::embedding;
use crate::rng::Pcg;

/// A text batch of `s`: ids drawn from a few rows so that they repeat, types 0 then 1, a mask.
fn text(s: TextShape, rng: &mut Pcg) -> Vec<f32> {
    let mut x = Vec::with_capacity(s.input_len());
    for _ in 0..s.batch {
        let len = 1 + rng.below(s.tokens as u32) as usize;
        x.extend((0..s.tokens).map(|_| rng.below(s.vocab.min(7) as u32) as f32));
        x.extend((0..s.tokens).map(|t| (t >= s.tokens / 2) as u32 as f32));
        x.extend((0..s.tokens).map(|t| (t < len) as u32 as f32));
    }
    x
}

#[test]
fn embedding_forward_backward() {
    // (batch, tokens, width, vocab, positions, replicas): BERT-like sizes with a short
    // sequence, a width that is no multiple of the 64-wide backward workgroup, two replicas.
    let cases = [
        (2, 9, 64, 50, 16, 1),
        (3, 5, 70, 11, 5, 1),
        (2, 7, 8, 30, 12, 2),
    ];
    for gpu in &gpus() {
        for (batch, tokens, width, vocab, positions, reps) in cases {
            let s = TextShape {
                batch,
                tokens,
                width,
                vocab,
                positions,
                types: 2,
            };
            let mut rng = Pcg::new((tokens * width) as u64, 44);
            let x0: Vec<f32> = (0..reps).flat_map(|_| text(s, &mut rng)).collect();
            let tables0 = rng.vec(reps * s.params_len(), -1.0, 1.0);
            let dy0 = rng.vec(reps * s.seq_len(), -1.0, 1.0);
            let x = gpu.upload(&x0, "text").unwrap();
            let tables = gpu.upload(&tables0, "tables").unwrap();
            let dy = gpu.upload(&dy0, "dy").unwrap();
            let y = gpu.zeros::<f32>(reps * s.seq_len(), "y").unwrap();
            // Stale values in every gradient: rows no token uses must come back zero.
            let grads = gpu
                .upload(&vec![7.0f32; reps * s.params_len()], "grads")
                .unwrap();
            let f = embedding::prepare_forward(
                gpu,
                s,
                x.replicas(reps),
                y.replicas(reps),
                tables.replicas(reps),
            )
            .unwrap();
            let b = embedding::prepare_backward(
                gpu,
                s,
                x.replicas(reps),
                dy.replicas(reps),
                grads.replicas(reps),
            )
            .unwrap();
            gpu.run(&[&f, &b]).unwrap();
            let (y, g) = (gpu.read(&y).unwrap(), gpu.read(&grads).unwrap());
            for k in 0..reps {
                let what = format!("{} {s:?} replica {k}", gpu.adapter.short());
                let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
                let xk = f64s(&x0[k * s.input_len()..][..s.input_len()]);
                let tk = f64s(&tables0[k * s.params_len()..][..s.params_len()]);
                let dk = f64s(&dy0[k * s.seq_len()..][..s.seq_len()]);
                let want_y = reference_forward(s, &xk, &tk);
                let got_y = &y[k * s.seq_len()..][..s.seq_len()];
                assert_close(&format!("y {what}"), got_y, &want_y, 1e-6, 0.0);
                let want_g = reference_backward(s, &xk, &dk);
                let got_g = &g[k * s.params_len()..][..s.params_len()];
                // Sums of up to batch·tokens values in [-1, 1].
                assert_close(&format!("grads {what}"), got_g, &want_g, 4e-6, 0.0);
                // The word rows past 7 are never used: exactly zero.
                assert!(got_g[7 * width..vocab * width].iter().all(|&v| v == 0.0));
            }
        }
    }
}

#[test]
fn a_bad_shape_is_an_error() {
    let gpu = &gpus()[0];
    let s = TextShape {
        batch: 1,
        tokens: 9,
        width: 4,
        vocab: 5,
        positions: 8,
        types: 2,
    };
    let buf = gpu.zeros::<f32>(1024, "any").unwrap();
    let Err(err) = embedding::prepare_forward(gpu, s, buf.view(), buf.view(), buf.view()) else {
        panic!("9 tokens over 8 positions were accepted");
    };
    assert!(err.to_string().contains("positions"), "{err}");
}
