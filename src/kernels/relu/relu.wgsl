// ReLU forward and backward, elementwise over the first n elements of whole buffers.
// One invocation per four elements: buffers are bound as vec4s (they are allocated in 16-byte
// multiples), since on CPU rasterisers a quarter of the invocations saves their fixed cost. The vec4
// index e is rebuilt from a 2-D grid of 256-wide workgroups (see grid_1d in
// src/kernels/launch.rs); invocations past n return, and elements 4e..4e+3 past n keep their old
// values.
// relu_forward: y[e] = max(x[e], 0).
// relu_backward: dx[e] = dy[e] where the forward output y[e] > 0, else 0 (the subgradient at 0
// is 0, as in PyTorch). It reads y rather than x: the two masks agree and y is what the layer keeps.
// Replicas: grid z is the replica r, which uses binding i at r * rs[i-1] elements past replica
// 0 (see Replicas in src/kernels/launch.rs); the strides are multiples of 4, so in vec4 units
// they are rs / 4.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

// Which of elements 4e..4e+3 lie before n.
fn inside(e: u32) -> vec4<bool> {
    return vec4<u32>(4u * e) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n);
}

@compute @workgroup_size(256)
fn relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let o = wid.z * p.rs / 4u;
        let d = o.y + e;
        dst[d] = select(dst[d], max(src[o.x + e], vec4<f32>(0.0)), inside(e));
    }
}

// Here src is dy and dst is dx; y is the forward output.
@group(0) @binding(3) var<storage, read> y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let o = wid.z * p.rs / 4u;
        let d = o.y + e;
        let v = select(vec4<f32>(0.0), src[o.x + e], y[o.z + e] > vec4<f32>(0.0));
        dst[d] = select(dst[d], v, inside(e));
    }
}
