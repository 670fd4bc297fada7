// scale on a flat vector: y[off_y + e] *= alpha for e in 0..n.
// One invocation per element; the linear index e is rebuilt from a 2-D grid of 256-wide
// workgroups (see grid_1d in src/kernels/launch.rs) and invocations past n return. It lives in its
// own file because it binds only the output, and bindings follow one order per file.

struct Params {
    n: u32,
    off_x: u32,
    off_y: u32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    if e < p.n {
        y[p.off_y + e] *= p.alpha;
    }
}
