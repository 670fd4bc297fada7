// The prelude of the elementwise layer kernels (relu.wgsl, gelu.wgsl), which follow it in one
// source: their uniform block, their source (1) and destination (2) bindings, and the indexing
// they share.
// One invocation per four elements of the first n: buffers are bound as vec4s (they are
// allocated in 16-byte multiples), since on CPU rasterisers a quarter of the invocations saves
// their fixed cost. The vec4 index e is rebuilt from a 2-D grid of 256-wide workgroups (see
// grid_1d in src/kernels/launch.rs); invocations past n return, and elements 4e..4e+3 past n
// keep their old values.
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
