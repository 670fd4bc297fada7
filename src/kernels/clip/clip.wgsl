// Gradient clipping by the global norm, as torch.nn.utils.clip_grad_norm_: the gradient the
// base step takes, g = ca * a + cb * b (SAMPa's mix; ca = 1, cb = 0 for one gradient, and then
// b is not read), is written to its own vector (mix), its squared norm s is computed there by
// the norm kernel, and g is scaled by min(1, max_norm / (sqrt(s) + 1e-6)) (scale).
//
// Bindings: the uniform block (0), a (1), b (2), the clipped gradient g (3) and s (4, one
// float at element 0). Indexing: one invocation per element e, rebuilt from a 2-D grid of
// 256-wide workgroups (see grid_1d in src/kernels/launch.rs) as (wid.x + wid.y * nwg.x) * 256
// + lid; invocations with e >= n return. Every vector starts at element 0.

struct Params {
    n: u32,
    ca: f32,
    cb: f32,
    max_norm: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;
@group(0) @binding(4) var<storage, read> s: array<f32>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn mix(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n {
        return;
    }
    var v = a[e];
    if p.cb != 0.0 {
        v = p.ca * v + p.cb * b[e];
    }
    g[e] = v;
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n {
        return;
    }
    let coef = min(1.0, p.max_norm / (sqrt(s[0]) + 1e-6));
    g[e] = g[e] * coef;
}
