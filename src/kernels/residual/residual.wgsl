// The residual add of a ResNet block, y = a + S(x) (then max(·, 0) when RELU is set), and the
// shortcut's part of the backward, on pixel-major activations bound as vec4s of channels.
//
// a and y are the block's output shape [n, ho, wo, c] (quads c4 = c/4); x is the block's input
// [n, hi, wi, ci] (quads ci4). The shortcut S is the identity when the shapes agree, else
// PyTorch's option A: S(x)[n, oy, ox, ch] = x[n, oy*stride, ox*stride, ch - pad] for channels
// pad <= ch < pad + ci, and 0 on the padded channels (akamaster's `F.pad(x[:, :, ::2, ::2],
// (0, 0, 0, 0, planes // 4, planes // 4))`); pad is a whole number of quads, padq.
//
// residual_forward: one invocation per output quad e = ((n*ho + oy)*wo + ox)*c4 + q, reading
//   src0 = a and src1 = x, writing dst = y.
// shortcut_backward: one invocation per input quad e = ((n*hi + iy)*wi + ix)*ci4 + qi, reading
//   src0 = dy and src1 = y, adding into dst = dx: the input pixel the shortcut sampled (iy and
//   ix multiples of stride) gets dy at (iy/stride, ix/stride, qi + padq), gated by y > 0 when
//   the add was followed by a ReLU; the others get nothing. It adds because dx already holds
//   the gradient through the block's convolutions.
// Indices come from a 2-D grid of 256-wide workgroups (see grid_1d in src/kernels/launch.rs).
// Replicas: grid z is the replica r, which uses binding i at r * rs[i-1] elements past replica
// 0; the strides are multiples of 4, so in vec4 units they are rs / 4.

struct Params {
    n: u32,
    ho: u32,
    wo: u32,
    c4: u32,
    hi: u32,
    wi: u32,
    ci4: u32,
    stride: u32,
    padq: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    rs: vec4<u32>,
}

override RELU: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src1: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<f32>>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn residual_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.ho * p.wo * p.c4 {
        return;
    }
    let o = wid.z * p.rs / 4u;
    let q = e % p.c4;
    let pix = e / p.c4;
    let ox = pix % p.wo;
    let oy = (pix / p.wo) % p.ho;
    let n = pix / (p.wo * p.ho);
    var s = vec4<f32>(0.0);
    if q >= p.padq && q < p.padq + p.ci4 {
        let ip = (n * p.hi + oy * p.stride) * p.wi + ox * p.stride;
        s = src1[o.y + ip * p.ci4 + q - p.padq];
    }
    var v = src0[o.x + e] + s;
    if RELU {
        v = max(v, vec4<f32>(0.0));
    }
    dst[o.z + e] = v;
}

@compute @workgroup_size(256)
fn shortcut_backward(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.hi * p.wi * p.ci4 {
        return;
    }
    let o = wid.z * p.rs / 4u;
    let qi = e % p.ci4;
    let pix = e / p.ci4;
    let ix = pix % p.wi;
    let iy = (pix / p.wi) % p.hi;
    let n = pix / (p.wi * p.hi);
    if iy % p.stride != 0u || ix % p.stride != 0u {
        return;
    }
    let op = (n * p.ho + iy / p.stride) * p.wo + ix / p.stride;
    let oe = op * p.c4 + qi + p.padq;
    var g = src0[o.x + oe];
    if RELU {
        g = select(vec4<f32>(0.0), g, src1[o.y + oe] > vec4<f32>(0.0));
    }
    dst[o.z + e] += g;
}
