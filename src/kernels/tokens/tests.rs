//! The token sequence's kernels against their f64 references on every adapter. They only
//! move values, except the position embeddings' gradient, a sum over the batch.

use super::{TokShape, reference_backward, reference_forward};
use super::{reference_pool_backward, reference_pool_forward};
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::tokens;
use crate::rng::Pcg;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn tokens_and_class_pool() {
    for gpu in &gpus() {
        for (batch, t, w, reps) in [(1, 2, 1, 1), (3, 17, 64, 2), (2, 50, 24, 1)] {
            let s = TokShape {
                batch,
                tokens: t,
                width: w,
            };
            let mut rng = Pcg::new((t * w) as u64, 38);
            // Parameters at offset 5 of a vector of params_len + 9 per replica.
            let stride = s.params_len() + 9;
            let x0 = rng.vec(reps * s.patches_len(), -1.0, 1.0);
            let prm0 = rng.vec(reps * stride, -1.0, 1.0);
            let dy0 = rng.vec(reps * s.seq_len(), -1.0, 1.0);
            let dp0 = rng.vec(reps * batch * w, -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let prm = gpu.upload(&prm0, "params").unwrap();
            let dy = gpu.upload(&dy0, "dy").unwrap();
            let dp = gpu.upload(&dp0, "dpooled").unwrap();
            let y = gpu.zeros::<f32>(reps * s.seq_len(), "y").unwrap();
            let dx = gpu.zeros::<f32>(reps * s.patches_len(), "dx").unwrap();
            let grads = gpu.zeros::<f32>(reps * stride, "grads").unwrap();
            let pooled = gpu.zeros::<f32>(reps * batch * w, "pooled").unwrap();
            let dseq = gpu.zeros::<f32>(reps * s.seq_len(), "dseq").unwrap();
            let at5 = |b| {
                crate::gpu::GpuBuf::slice(b, 5, s.params_len())
                    .unwrap()
                    .repeated(reps, stride)
                    .unwrap()
            };
            let r = reps;
            let run = [
                tokens::prepare_forward(gpu, s, x.replicas(r), y.replicas(r), at5(&prm)),
                tokens::prepare_backward(gpu, s, dy.replicas(r), Some(dx.replicas(r)), at5(&grads)),
                tokens::prepare_pool_forward(gpu, s, y.replicas(r), pooled.replicas(r)),
                tokens::prepare_pool_backward(gpu, s, dp.replicas(r), dseq.replicas(r)),
            ]
            .map(Result::unwrap);
            gpu.run(&run.each_ref()).unwrap();
            let [y, dx, grads, pooled, dseq] =
                [&y, &dx, &grads, &pooled, &dseq].map(|b| gpu.read(b).unwrap());
            for k in 0..reps {
                let what = format!("{} {s:?} replica {k}", gpu.adapter.short());
                let part = |v: &[f32], len: usize| f64s(&v[k * len..][..len]);
                let cls_pos = &part(&prm0, stride)[5..][..s.params_len()];
                let want_y = reference_forward(s, &part(&x0, s.patches_len()), cls_pos);
                assert_close(
                    &format!("tokens fwd {what}"),
                    &y[k * s.seq_len()..][..s.seq_len()],
                    &want_y,
                    1e-7,
                    1e-7,
                );
                let (want_dx, want_g) = reference_backward(s, &part(&dy0, s.seq_len()));
                let got_dx = &dx[k * s.patches_len()..][..s.patches_len()];
                assert_close(&format!("tokens dx {what}"), got_dx, &want_dx, 0.0, 0.0);
                let got_g = &grads[k * stride + 5..][..s.params_len()];
                assert_close(&format!("tokens dprm {what}"), got_g, &want_g, 1e-6, 1e-6);
                let want_p = reference_pool_forward(s, &want_y);
                let got_p = &pooled[k * batch * w..][..batch * w];
                assert_close(&format!("pool fwd {what}"), got_p, &want_p, 1e-7, 1e-7);
                let want_ds = reference_pool_backward(s, &part(&dp0, batch * w));
                let got_ds = &dseq[k * s.seq_len()..][..s.seq_len()];
                assert_close(&format!("pool bwd {what}"), got_ds, &want_ds, 0.0, 0.0);
            }
        }
    }
}
