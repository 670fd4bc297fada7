//! Global average pooling against the f64 reference on every adapter (sums of hw terms:
//! relative error ~hw·2^-24), and the reference backward against its forward (the adjoint).

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::avgpool::{self, AvgShape};
use crate::kernels::maxpool::PoolShape;
use crate::rng::Pcg;

const SHAPES: [AvgShape; 3] = [
    AvgShape { n: 1, hw: 1, c: 4 },
    AvgShape { n: 3, hw: 49, c: 8 },
    AvgShape {
        n: 2,
        hw: 64,
        c: 64,
    },
];

#[test]
fn avgpool_forward_backward() {
    for gpu in &gpus() {
        for s in SHAPES {
            let mut rng = Pcg::new(s.hw as u64, 1);
            let x0 = rng.vec(s.n * s.hw * s.c, -1.0, 1.0);
            let dy0 = rng.vec(s.n * s.c, -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let y = gpu.zeros::<f32>(s.n * s.c, "y").unwrap();
            let dy = gpu.upload(&dy0, "dy").unwrap();
            let dx = gpu.zeros::<f32>(x0.len(), "dx").unwrap();
            let f = avgpool::prepare_forward(gpu, s, x.view(), y.view()).unwrap();
            let b = avgpool::prepare_backward(gpu, s, dy.view(), dx.view()).unwrap();
            gpu.run(&[&f, &b]).unwrap();
            let want = avgpool::reference_forward(s, &x0);
            assert_close(
                &format!("{s:?} y"),
                &gpu.read(&y).unwrap(),
                &want,
                1e-6,
                1e-5,
            );
            let want = avgpool::reference_backward(s, &dy0);
            assert_close(
                &format!("{s:?} dx"),
                &gpu.read(&dx).unwrap(),
                &want,
                1e-7,
                1e-6,
            );
        }
    }
}

/// ⟨pool(x), g⟩ = ⟨x, poolᵀ(g)⟩.
#[test]
fn avgpool_backward_is_the_adjoint() {
    for s in SHAPES {
        let mut rng = Pcg::new(3, 3);
        let (x, g) = (
            rng.vec(s.n * s.hw * s.c, -1.0, 1.0),
            rng.vec(s.n * s.c, -1.0, 1.0),
        );
        let dot =
            |a: &[f64], b: &[f32]| -> f64 { a.iter().zip(b).map(|(a, &b)| a * b as f64).sum() };
        let lhs = dot(&avgpool::reference_forward(s, &x), &g);
        let rhs = dot(&avgpool::reference_backward(s, &g), &x);
        assert!((lhs - rhs).abs() < 1e-9, "{s:?}: {lhs} vs {rhs}");
    }
}

/// 2×2 pooling against its reference on every adapter, with an odd height and width (the last
/// row and column dropped) and two replicas; and the reference backward as the adjoint.
#[test]
fn window_pooling() {
    let s = PoolShape {
        n: 2,
        h: 5,
        w: 7,
        c: 8,
    };
    let mut rng = Pcg::new(5, 5);
    let x0 = rng.vec(2 * s.input_len(), -1.0, 1.0);
    let dy0 = rng.vec(2 * s.output_len(), -1.0, 1.0);
    for gpu in &gpus() {
        let x = gpu.upload(&x0, "x").unwrap();
        let y = gpu.zeros::<f32>(2 * s.output_len(), "y").unwrap();
        let dy = gpu.upload(&dy0, "dy").unwrap();
        let dx = gpu.upload(&vec![9.0; x0.len()], "dx").unwrap();
        let f = avgpool::prepare_window_forward(gpu, s, x.replicas(2), y.replicas(2)).unwrap();
        let b = avgpool::prepare_window_backward(gpu, s, dy.replicas(2), dx.replicas(2)).unwrap();
        gpu.run(&[&f, &b]).unwrap();
        let (y, dx) = (gpu.read(&y).unwrap(), gpu.read(&dx).unwrap());
        let (i, o) = (s.input_len(), s.output_len());
        for r in 0..2 {
            let want = avgpool::reference_window_forward(s, &x0[r * i..(r + 1) * i]);
            assert_close(
                &format!("2×2 y {r}"),
                &y[r * o..(r + 1) * o],
                &want,
                1e-7,
                1e-6,
            );
            let want = avgpool::reference_window_backward(s, &dy0[r * o..(r + 1) * o]);
            assert_close(
                &format!("2×2 dx {r}"),
                &dx[r * i..(r + 1) * i],
                &want,
                1e-7,
                1e-6,
            );
        }
    }
    let dot = |a: &[f64], b: &[f32]| -> f64 { a.iter().zip(b).map(|(a, &b)| a * b as f64).sum() };
    let (x, g) = (&x0[..s.input_len()], &dy0[..s.output_len()]);
    let lhs = dot(&avgpool::reference_window_forward(s, x), g);
    let rhs = dot(&avgpool::reference_window_backward(s, g), x);
    assert!((lhs - rhs).abs() < 1e-9, "{lhs} vs {rhs}");
}
