// Copying a window of channels between pixel-major tensors: DenseNet's concatenation. Both
// tensors have m rows (one per pixel of every example) and are bound as vec4s of channels. Row
// r of src holds ss4 quads, of which the copy reads the c4 quads starting at quad so4; row r
// of dst holds ds4 quads, of which it writes the c4 starting at do4:
//   dst[do4 + r*ds4 + q] = src[so4 + r*ss4 + q]   for r < m, q < c4.
// copy_window: one invocation per copied quad e = r*c4 + q; no two write the same place.
// Linear indices come from a 2-D grid of 256-wide workgroups (see grid_1d in src/kernels/launch.rs).
// Replicas: grid z is the replica r, which uses src and dst at r * p.rs.x and r * p.rs.y
// elements past replica 0 (multiples of 4, so rs / 4 in vec4s; see Replicas in
// src/kernels/launch.rs).

struct Params {
    m: u32,
    c4: u32,
    ss4: u32,
    so4: u32,
    ds4: u32,
    do4: u32,
    _pad0: u32,
    _pad1: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn copy_window(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.m * p.c4 {
        return;
    }
    let o = wid.z * p.rs / 4u;
    let r = e / p.c4;
    let q = e % p.c4;
    dst[o.y + p.do4 + r * p.ds4 + q] = src[o.x + p.so4 + r * p.ss4 + q];
}
