// SAM-style perturbation of a flat vector: y = x + s · d with s = rho / (sqrt(nsq) + eps), the
// squared norm nsq of d read from element p.off_norm of a device buffer (written there by
// norm.wgsl), so no host round trip is needed. With p.normalized = 0, s = rho (USAM). With
// p.adaptive = 1 (ASAM) the step is y = x + s · x² · d, and nsq must then be ‖|x| ⊙ d‖²
// (norm.wgsl's weighted entry).
// Layout: x, d and y are n elements at element offsets off_x, off_d and 0 of their buffers;
// the offsets are multiples of 4, because the buffers are bound as vec4s (allocated in 16-byte
// multiples; on CPU rasterisers a quarter of the invocations saves their fixed cost).
// One invocation per four elements; the vec4 index e comes from a 2-D grid of 256-wide
// workgroups (see grid_1d in src/kernels/mod.rs), invocations past n return, and elements of y
// from n on keep their old values.
// perturb reads x and d from their buffers; perturb_tex reads them through texture copies
// (each vector as a 64-texel-wide rgba32float texture, vec4 e at texel (e % 64, e / 64), as
// sgd.wgsl's texture entries do: on CPU rasterisers a storage-buffer load is a loop over the
// SIMD lanes and a texture fetch one gather). Both compute the same values.

struct Params {
    n: u32,
    off_x: u32,
    off_d: u32,
    off_norm: u32,
    rho: f32,
    eps: f32,
    normalized: u32,
    adaptive: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> d: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> norms: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;

// y's vec4 e from x's and d's.
fn apply(e: u32, xe: vec4<f32>, de: vec4<f32>) {
    var s = p.rho;
    if p.normalized != 0u {
        s = p.rho / (sqrt(norms[p.off_norm]) + p.eps);
    }
    var t = de;
    if p.adaptive != 0u {
        t = xe * xe * t;
    }
    let v = xe + s * t;
    let base = 4u * e;
    if base + 3u < p.n {
        y[e] = v;
    } else {
        let keep = vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n);
        y[e] = select(y[e], v, keep);
    }
}

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn perturb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        apply(e, x[p.off_x / 4u + e], d[p.off_d / 4u + e]);
    }
}

@group(0) @binding(1) var tex_x: texture_2d<f32>;
@group(0) @binding(2) var tex_d: texture_2d<f32>;

@compute @workgroup_size(256)
fn perturb_tex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let c = vec2<u32>(e % 64u, e / 64u);
        apply(e, textureLoad(tex_x, c, 0), textureLoad(tex_d, c, 0));
    }
}
