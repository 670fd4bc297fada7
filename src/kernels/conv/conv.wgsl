// im2col and col2im for a strided convolution with zero padding, so the convolution itself is
// one matmul with the [O, C*k*k] weight (PyTorch's [out, in, kh, kw] flattened).
//
// Layout. The image batch is read through strides: element (n, y, x, c) of the input is
// x_in[n*sn + (y*W + x)*sp + c*sc], which covers both NCHW data batches (sp = 1, sc = H*W) and
// the pixel-major activations of earlier layers (sp = C, sc = 1). The column matrix `cols` has
// one row per output pixel r = (n*Ho + y)*Wo + x and one column per j = (c*k + ky)*k + kx,
// row-major [N*Ho*Wo, C*k*k]; its element is the input at (n, y*stride + ky - pad, x*stride + kx - pad,
// c), or 0 outside the image. Ho = (H + 2*pad - k) / stride + 1, likewise Wo.
//
// im2col: one invocation per element of cols (index e = r * C*k*k + j, from a 2-D grid of
// 256-wide workgroups).
// col2im: the gradient of im2col. One invocation per input element (n, y, x, c), written
// pixel-major at ((n*H + y)*W + x)*C + c; it gathers the k*k entries of dcols that read it, in
// (ky, kx) order, so the sum needs no atomics and does not depend on timing.
// Replicas: grid z is the replica r, which reads src at r * p.rs.x and writes dst at
// r * p.rs.y elements past replica 0 (see Replicas in src/kernels/launch.rs).

struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    k: u32,
    pad: u32,
    sn: u32,
    sp: u32,
    sc: u32,
    ho: u32,
    wo: u32,
    stride: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    let kk = p.k * p.k;
    let cols = p.c * kk;
    if e >= p.n * p.ho * p.wo * cols {
        return;
    }
    let r = e / cols;
    let j = e % cols;
    let ch = j / kk;
    let ky = (j % kk) / p.k;
    let kx = j % p.k;
    let x = r % p.wo;
    let y = (r / p.wo) % p.ho;
    let n = r / (p.wo * p.ho);
    // Signed arithmetic for the padded border.
    let iy = i32(y * p.stride + ky) - i32(p.pad);
    let ix = i32(x * p.stride + kx) - i32(p.pad);
    var v = 0.0;
    if iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w) {
        v = src[wid.z * p.rs.x + n * p.sn + (u32(iy) * p.w + u32(ix)) * p.sp + ch * p.sc];
    }
    dst[wid.z * p.rs.y + e] = v;
}

@compute @workgroup_size(256)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.h * p.w * p.c {
        return;
    }
    let ch = e % p.c;
    let x = (e / p.c) % p.w;
    let y = (e / (p.c * p.w)) % p.h;
    let n = e / (p.c * p.w * p.h);
    let cols = p.c * p.k * p.k;
    let src0 = wid.z * p.rs.x;
    var s = 0.0;
    for (var ky = 0u; ky < p.k; ky++) {
        // Output row oy reads input row y when oy*stride + ky - pad = y.
        let ty = i32(y + p.pad) - i32(ky);
        let oy = ty / i32(p.stride);
        if ty < 0 || ty % i32(p.stride) != 0 || oy >= i32(p.ho) {
            continue;
        }
        for (var kx = 0u; kx < p.k; kx++) {
            let tx = i32(x + p.pad) - i32(kx);
            let ox = tx / i32(p.stride);
            if tx < 0 || tx % i32(p.stride) != 0 || ox >= i32(p.wo) {
                continue;
            }
            let r = (n * p.ho + u32(oy)) * p.wo + u32(ox);
            s += src[src0 + r * cols + (ch * p.k + ky) * p.k + kx];
        }
    }
    dst[wid.z * p.rs.y + e] = s;
}
