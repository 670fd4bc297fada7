// Global squared L2 norm of a flat vector, as a two-stage reduction.
//
// sumsq_partial: G workgroups of 256 invocations (G = p.groups, fixed by the host from n, never
// by timing). The input is bound as vec4s (buffers are allocated in 16-byte multiples, and on
// CPU rasterisers a quarter of the invocations saves their fixed cost), so p.off is a
// multiple of 4.
// Global invocation g = wid*256 + t adds the squares of elements 4i..4i+3 of the vector (those
// before n) for i = g, g + 256G, g + 512G, ... in order and writes its sum to dst[g] (dst is
// the partials buffer here, 256G long). No workgroup tree here: on CPU rasterisers every
// barrier switches through all 256 invocations of a workgroup, which made this stage cost more
// than the rest of a perturbation; the one tree left is in the final stage.
// sumsq_final: one workgroup, with x bound to the partials and dst to the output vector;
// invocation t sums partials t, t+256, ..., t + 256(G-1) in order and a fixed tree adds those,
// writing dst[p.off_out].
// sumsq_weighted_partial: as sumsq_partial for the sum of (w[i] * x[off + i])^2, ASAM's
// ‖|w| ⊙ x‖² (w is n elements from element 0 of its own buffer, bound as vec4s too).
// sumsq_partial_tex: as sumsq_partial, reading the vector through a texture copy of it (a
// 64-texel-wide rgba32float texture, vec4 i at texel (i % 64, i / 64); see sgd.wgsl) for CPU
// rasterisers, where a texture fetch is one gather and a storage load a loop over the lanes.
// Both stages have a fixed order, so the norm is reproducible bit for bit on one adapter. The result stays on the device for the kernels that divide by it.

struct Params {
    n: u32,
    off: u32,
    groups: u32,
    off_out: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
// The final stage reads the partial sums as plain floats.
@group(0) @binding(1) var<storage, read> partials: array<f32>;

@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;

// v as elements 4i..4i+3 of the vector: zero from n on.
fn masked(i: u32, v: vec4<f32>) -> vec4<f32> {
    let inside = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n);
    return select(vec4<f32>(0.0), v, inside);
}

fn chunk(i: u32) -> vec4<f32> {
    return masked(i, x[p.off / 4u + i]);
}

var<workgroup> part: array<f32, 256>;

fn tree(t: u32) {
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if t < half {
            part[t] += part[t + half];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn sumsq_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    let stride = p.groups * 256u;
    let g = wid.x * 256u + t;
    for (var i = g; 4u * i < p.n; i += stride) {
        let v = chunk(i);
        s += dot(v, v);
    }
    dst[g] = s;
}

@group(0) @binding(1) var tex_x: texture_2d<f32>;

@compute @workgroup_size(256)
fn sumsq_partial_tex(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    let stride = p.groups * 256u;
    let g = wid.x * 256u + t;
    for (var i = g; 4u * i < p.n; i += stride) {
        let v = masked(i, textureLoad(tex_x, vec2<u32>(i % 64u, i / 64u), 0));
        s += dot(v, v);
    }
    dst[g] = s;
}

@compute @workgroup_size(256)
fn sumsq_weighted_partial(@builtin(workgroup_id) wid: vec3<u32>,
                          @builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    let stride = p.groups * 256u;
    let g = wid.x * 256u + t;
    for (var i = g; 4u * i < p.n; i += stride) {
        let v = w[i] * chunk(i);
        s += dot(v, v);
    }
    dst[g] = s;
}

@compute @workgroup_size(256)
fn sumsq_final(@builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    for (var i = t; i < 256u * p.groups; i += 256u) {
        s += partials[i];
    }
    part[t] = s;
    tree(t);
    if t == 0u {
        dst[p.off_out] = part[0];
    }
}
