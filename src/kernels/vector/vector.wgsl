// axpy, copy and elementwise product on flat vectors (scale is in scale.wgsl).
// Each operates on n elements starting at element offsets off_x (input) and off_y (output) of
// their buffers, one invocation per element. The linear index e is rebuilt from a 2-D grid of
// 256-wide workgroups (see grid_1d in src/kernels/launch.rs); invocations past n return.
//   axpy:  y[off_y + e] += alpha * x[off_x + e]
//   copy:  y[off_y + e]  = x[off_x + e]
//   mul:   y[off_y + e] *= x[off_x + e]

struct Params {
    n: u32,
    off_x: u32,
    off_y: u32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e < p.n {
        y[p.off_y + e] += p.alpha * x[p.off_x + e];
    }
}

@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e < p.n {
        y[p.off_y + e] = x[p.off_x + e];
    }
}

@compute @workgroup_size(256)
fn mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e < p.n {
        y[p.off_y + e] *= x[p.off_x + e];
    }
}
