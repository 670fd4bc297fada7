//! GELU against its f64 reference on every adapter, and the shaders' f32 erf against f64's
//! erf (musl's, through `libm`) over the whole f32 line.

use crate::gpu::Gpu;
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::gelu;
use crate::kernels::launch::{Bind, Launch, Params, build, grid_1d};
use crate::rng::Pcg;

/// erf_f32 of each input, through a probe entry point around `erf.wgsl` (built here only).
fn erf_on(gpu: &Gpu, xs: &[f32]) -> Vec<f32> {
    const PROBE: &str = "
@group(0) @binding(0) var<uniform> n: vec4<u32>;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read_write> ys: array<f32>;
@compute @workgroup_size(256)
fn erf_probe(@builtin(global_invocation_id) g: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = g.x + g.y * nwg.x * 256u;
    if i < n.x { ys[i] = erf_f32(xs[i]); }
}
";
    let source: &'static str =
        Box::leak(format!("{}{PROBE}", crate::wgsl!("kernels/gelu/erf.wgsl")).into_boxed_str());
    let x = gpu.upload(xs, "x").unwrap();
    let y = gpu.zeros::<f32>(xs.len(), "erf").unwrap();
    let n = [xs.len() as u32, 0, 0, 0];
    let groups = grid_1d(gpu, xs.len().div_ceil(256) as u32);
    let d = build(
        gpu,
        Launch {
            label: "erf_probe",
            source,
            entry: "erf_probe",
            constants: &[],
            params: Params::Bytes(bytemuck::cast_slice(&n)),
            replicas: None,
            bindings: &[Bind::Buf(&x.buffer), Bind::Buf(&y.buffer)],
            groups,
        },
    )
    .unwrap();
    gpu.run(&[&d]).unwrap();
    gpu.read(&y).unwrap()
}

/// Inputs covering the f32 line: a fine grid over [-7, 7] (erf's whole transition; past 6 it
/// is 1 in f32), each branch boundary with its neighbouring floats, every power of two from
/// 2^-126 to 2^127 with both signs, and random bit patterns of finite floats.
fn erf_inputs() -> Vec<f32> {
    let mut xs: Vec<f32> = (-70_000..=70_000).map(|i| i as f32 * 1e-4).collect();
    for b in [0.84375f32, 1.25, 1.0 / 0.35, 6.0] {
        let bits = b.to_bits();
        for d in 0..8u32 {
            for v in [f32::from_bits(bits + d), f32::from_bits(bits - d)] {
                xs.extend([v, -v]);
            }
        }
    }
    for e in -126..=127 {
        let v = 2f32.powi(e);
        xs.extend([v, -v, v * 1.37, -v * 1.37]);
    }
    let mut rng = Pcg::new(38, 1);
    while xs.len() < 250_000 {
        let v = f32::from_bits(rng.next_u32());
        if v.is_finite() {
            xs.push(v);
        }
    }
    xs.push(0.0);
    xs
}

#[test]
fn erf_f32_is_within_2e_7_of_f64_erf_over_the_whole_line() {
    let xs = erf_inputs();
    let want: Vec<f64> = xs.iter().map(|&x| libm::erf(x as f64)).collect();
    for gpu in &gpus() {
        let got = erf_on(gpu, &xs);
        let (i, worst) = got
            .iter()
            .zip(&want)
            .map(|(&g, &w)| (g as f64 - w).abs())
            .enumerate()
            .fold((0, 0.0), |a, (i, d)| if d > a.1 { (i, d) } else { a });
        eprintln!(
            "{}: erf over {} inputs, max |diff| {worst:.3e} at x = {:e}",
            gpu.adapter.short(),
            xs.len(),
            xs[i]
        );
        assert!(
            worst <= 2e-7,
            "{}: erf_f32({:e}) = {:e}, f64 erf gives {:e}",
            gpu.adapter.short(),
            xs[i],
            got[i],
            want[i]
        );
    }
}

#[test]
fn gelu_forward_backward() {
    for gpu in &gpus() {
        for n in [1, 7, 33, 1000, 70_001] {
            let mut rng = Pcg::new(n as u64, 38);
            let x0 = rng.vec(n, -6.0, 6.0);
            let dy0 = rng.vec(n, -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let y = gpu.zeros::<f32>(n, "y").unwrap();
            let dy = gpu.upload(&dy0, "dy").unwrap();
            let dx = gpu.zeros::<f32>(n, "dx").unwrap();
            let f = gelu::prepare_forward(gpu, n, x.view(), y.view()).unwrap();
            let b = gelu::prepare_backward(gpu, n, dy.view(), dx.view(), x.view()).unwrap();
            gpu.run(&[&f, &b]).unwrap();
            // |x| ≤ 6 and erf within 2e-7: y is off by at most 6·1e-7 plus its own rounding.
            assert_close(
                &format!("gelu fwd n={n}"),
                &gpu.read(&y).unwrap(),
                &gelu::reference_forward(&x0),
                7e-7,
                2e-7,
            );
            assert_close(
                &format!("gelu bwd n={n}"),
                &gpu.read(&dx).unwrap(),
                &gelu::reference_backward(&dy0, &x0),
                7e-7,
                2e-7,
            );
        }
    }
}

#[test]
fn gelu_reference_matches_closed_forms() {
    // Φ(0) = 1/2, Φ(1) = 0.841344746068543, φ(1) = 0.241970724519143.
    let y = gelu::reference_forward(&[0.0f64, 1.0, -1.0]);
    assert_eq!(y[0], 0.0);
    assert!((y[1] - 0.841344746068543).abs() < 1e-14);
    assert!((y[2] + (1.0 - 0.841344746068543)).abs() < 1e-14);
    let d = gelu::reference_backward(&[1.0f64, 1.0], &[0.0, 1.0]);
    assert!((d[0] - 0.5).abs() < 1e-15);
    assert!((d[1] - (0.841344746068543 + 0.241970724519143)).abs() < 1e-14);
}
