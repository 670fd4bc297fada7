// Global squared L2 norm of a flat vector, as a two-stage reduction. This prelude is shared by
// the storage form (norm.wgsl, which also holds the final stage) and the texture form of the
// first stage (norm_tex.wgsl); each is compiled as this file followed by its own. It declares
// the uniform block (binding 0) and the output dst (binding 2), which both forms write.
//
// First stage: G workgroups of 256 invocations (G = p.groups, fixed by the host from n and
// the adapter's kind, never by timing: see partial_groups in mod.rs). The vector is read as vec4s (buffers are allocated in 16-byte multiples, and on
// CPU rasterisers a quarter of the invocations saves their fixed cost), so p.off is a multiple
// of 4. Global invocation g = wid * 256 + t adds the squares of elements 4i..4i+3 of the
// vector (those before n) for i = g, g + 256G, g + 512G, ... in order and writes its sum to
// dst[g] (dst is the partials buffer here, 256G long). No workgroup tree in this stage: on CPU
// rasterisers every barrier switches through all 256 invocations of a workgroup, which made
// this stage cost more than the rest of a perturbation.
// Final stage (norm.wgsl's sumsq_final): one workgroup; invocation t sums partials t, t + 256,
// ..., t + 256(G - 1) in order, and a fixed tree adds those, writing dst[p.off_out].
// Both stages have a fixed order, so the norm is reproducible bit for bit on one adapter. The
// result stays on the device for the kernels that divide by it.

struct Params {
    n: u32,
    off: u32,
    groups: u32,
    off_out: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// v as elements 4i..4i+3 of the vector: zero from n on.
fn masked(i: u32, v: vec4<f32>) -> vec4<f32> {
    let inside = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n);
    return select(vec4<f32>(0.0), v, inside);
}
