// Staging for the implicit-GEMM convolution (implicit.wgsl, wgrad.wgsl): the weight packed as
// the product's B operand, and the first layer's NCHW batch written as an image.
//
// `pack_weight`: the packed weight is a (k*k*cin_p) × n matrix in an rgba32float texture array,
// rows split into layers of rows_per_layer (a multiple of 4), texel (x, y) of layer l holding
// row l*rows_per_layer + y, columns 4x .. 4x+3. Row q = (ky*k + kx)*cin_p + ci is tap (ky, kx)
// of the product's input channel ci; column j its output channel. The weight W is PyTorch's
// [wo, wc, k, k] at element off + ((o*wc + c)*k + ky)*k + kx of src. With flip = 0 (the forward
// pass) entry (q, j) is W[j, ci, ky, kx]; with flip = 1 (the data gradient, a convolution of dy
// with the transposed, flipped kernel) it is W[ci, j, k-1-ky, k-1-kx]. Channels ci >= cin (the
// zero padding of an input whose channels are not a multiple of 4) and columns j >= n are 0.
// One invocation per texel: global x is the texel column, y the row within the layer, z the
// texture layer. Replicas: layer z belongs to replica z / rs.y, whose weight starts rs.x
// elements after the previous one's.
//
// `stage_nchw`: a batch of n images, c channels of h×w each, NCHW at element
// off + ((b*c + ch)*h + y)*w + x, becomes the pixel-major image implicit.wgsl reads: texel
// t = ((b*h + y)*w + x)*cin4 + c4 holds channels 4*c4 .. 4*c4+3 (zero past c), at column t & 63,
// row (t >> 6) & img_mask, layer t >> img_shift. One invocation per texel, the linear index
// rebuilt from a 2-D grid of 256-wide workgroups (grid_1d in src/kernels/launch.rs); global z
// is the replica, whose batch starts rs.x elements and whose image rs.y layers further on.

struct Params {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
    e: u32,
    f: u32,
    g: u32,
    h: u32,
    i: u32,
    off: u32,
    _pad0: u32,
    _pad1: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;

// pack_weight's parameters: a = rows (k*k*cin_p), b = n, c = texels, d = rows_per_layer,
// e = cin, f = cin_p, g = k, h = flip, i = wc.
fn weight(base: u32, q: u32, j: u32) -> f32 {
    let cin_p = p.f;
    let k = p.g;
    let ci = q % cin_p;
    let kyx = q / cin_p;
    if ci >= p.e || j >= p.b || q >= p.a {
        return 0.0;
    }
    var ky = kyx / k;
    var kx = kyx % k;
    var o = j;
    var ch = ci;
    if p.h != 0u {
        ky = k - 1u - ky;
        kx = k - 1u - kx;
        o = ci;
        ch = j;
    }
    return src[base + ((o * p.i + ch) * k + ky) * k + kx];
}

@compute @workgroup_size(16, 16)
fn pack_weight(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let q = (gid.z % p.rs.y) * p.d + gid.y;
    if x >= p.c || gid.y >= p.d {
        return;
    }
    let base = p.off + (gid.z / p.rs.y) * p.rs.x;
    let j = 4u * x;
    let v = vec4<f32>(weight(base, q, j), weight(base, q, j + 1u), weight(base, q, j + 2u),
                      weight(base, q, j + 3u));
    textureStore(dst, gid.xy, gid.z, v);
}

// stage_nchw's parameters: a = images, b = channels, c = h, d = w, e = cin4, f = img_shift,
// g = img_mask, h = texels of one replica's image.
fn channel(base: u32, pixel: u32, ch: u32) -> f32 {
    if ch >= p.b {
        return 0.0;
    }
    let plane = p.c * p.d;
    let img = pixel / plane;
    return src[base + (img * p.b + ch) * plane + pixel % plane];
}

@compute @workgroup_size(256)
fn stage_nchw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let t = (wid.x + wid.y * nwg.x) * 256u + lid;
    if t >= p.h {
        return;
    }
    let base = p.off + wid.z * p.rs.x;
    let pixel = t / p.e;
    let ch = 4u * (t % p.e);
    let v = vec4<f32>(channel(base, pixel, ch), channel(base, pixel, ch + 1u),
                      channel(base, pixel, ch + 2u), channel(base, pixel, ch + 3u));
    let at = vec2<u32>(t & 63u, (t >> 6u) & p.g);
    textureStore(dst, at, wid.z * p.rs.y + (t >> p.f), v);
}
