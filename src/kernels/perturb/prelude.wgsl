// SAM-style perturbation of a flat vector: y = x + s · d with s = rho / (sqrt(nsq) + eps), the
// squared norm nsq of d read from element p.off_norm of a device buffer (written there by the
// norm kernels), so no host round trip is needed. With p.normalized = 0, s = rho (USAM). With
// p.adaptive = 1 (ASAM) the step is y = x + s · x² · d, and nsq must then be ‖|x| ⊙ d‖² (the
// norm's weighted entry).
//
// This prelude is shared by the storage form (perturb.wgsl) and the texture form
// (perturb_tex.wgsl); each is compiled as this file followed by its own, which binds x and d
// (bindings 1 and 2) and reads them. The prelude declares what both bind alike: the uniform
// block (binding 0), the norms (binding 3) and the output y (binding 4).
//
// Layout: x, d and y are n elements at element offsets off_x, off_d and 0 of their buffers;
// the offsets are multiples of 4, because the buffers are bound as vec4s (allocated in 16-byte
// multiples; on CPU rasterisers a quarter of the invocations saves their fixed cost). One
// invocation per four elements; the vec4 index e comes from a 2-D grid of 256-wide workgroups
// (see grid_1d in src/kernels/launch.rs), invocations past n return, and elements of y from n
// on keep their old values.

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
