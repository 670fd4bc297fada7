// Memory and launch microbenchmarks (`sampa bench`): the kernels the suite times to measure an
// adapter's bandwidth and its per-dispatch cost, not kernels that training uses.
// Indexing: whole buffers bound as vec4s (every buffer is allocated in 16-byte multiples); one
// invocation per vec4 e, rebuilt from a 2-D grid of 256-wide workgroups as
// e = (wid.x + wid.y * nwg.x) * 256 + lid (see grid_1d in src/kernels/launch.rs). Invocations with
// 4e >= n return, and n is a multiple of 4, so every vec4 an invocation touches lies inside n.
// copy: dst[e] = src[e], one read and one write per element.
// rmw: dst[e] = dst[e] * 0.5 + 0.25, a read-modify-write in place (the shape of an optimizer
// update); repeated, values converge to 0.5 and stay finite.
// noop: does nothing; launched as one workgroup, it times a dispatch's fixed cost. It names the
// uniform block (a phony assignment) only so that its bind group has the one binding every
// launch has.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        dst[e] = src[e];
    }
}

@compute @workgroup_size(256)
fn rmw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        dst[e] = dst[e] * 0.5 + vec4<f32>(0.25);
    }
}

@compute @workgroup_size(1)
fn noop() {
    _ = p.n;
}
