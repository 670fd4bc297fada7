// GSAM's update gradient (Zhuang et al., "Surrogate Gap Guided Sharpness-Aware Minimization",
// ICLR 2022; the authors' gradient_decompose): with g the gradient at x and gp the gradient
// at the perturbed point,
//   out = gp − α·(g − c·gp),   c = (g · gp) / (‖gp‖² + eps),
// the perturbed gradient minus α times the part of g orthogonal to gp. The two scalars were
// written to the device by the norm kernels (the dot product at element p.off_s of s, the
// squared norm at p.off_s + 1), so no value crosses to the host.
//
// Layout: g, gp and out are n elements from element 0 of their own buffers (whole vectors as
// long as the parameters). One invocation per element; the linear index e is rebuilt from a
// 2-D grid of 256-wide workgroups (see grid_1d in src/kernels/launch.rs), and invocations past
// n return.

struct Params {
    n: u32,
    off_s: u32,
    alpha: f32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> gp: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn decompose(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    if e < p.n {
        let c = s[p.off_s] / (s[p.off_s + 1u] + p.eps);
        out[e] = gp[e] - p.alpha * (g[e] - c * gp[e]);
    }
}
