// A ViT's token sequence and its class-token readout. Sequences are [N, T, W] row-major: N
// examples of T tokens of W features, token 0 the class token. Patch embeddings arrive as the
// patch convolution's pixel-major output, [N, T - 1, W] (patches in raster order), which is
// already a sequence without the class token.
// tokens_forward:        y[n, 0, c] = cls[c] + pos[0, c];
//                        y[n, t, c] = x[n, t - 1, c] + pos[t, c] for t >= 1.
// tokens_backward_dx:    dx[n, t - 1, c] = dy[n, t, c].
// tokens_backward_prm:   dpos[t, c] = Σ_n dy[n, t, c] (n in order); dcls[c] = dpos[0, c].
// class_pool_forward:    y[n, c] = x[n, 0, c] (timm's global_pool='token').
// class_pool_backward:   dx[n, 0, c] = dy[n, c], dx[n, t, c] = 0 for t >= 1.
// cls and pos lie in the flat parameter vector at prm (W values) and prm + W (T*W values); their
// gradients go to the gradient vector at the same offsets.
// Indexing: one invocation per element of the array it writes, e = (wid.x + wid.y * nwg.x) * 256
// + the local index (the 2-D grid of grid_1d in src/kernels/launch.rs), decomposed row-major
// into its indices; invocations past the end return. Replicas: grid z is the replica r, which
// uses binding i at r * p.rs[i-1] elements past replica 0 (see Replicas in
// src/kernels/launch.rs).

struct Params {
    n: u32,
    t: u32,
    w: u32,
    prm: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> prm: array<f32>;
@group(0) @binding(4) var<storage, read_write> grads: array<f32>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn tokens_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.t * p.w {
        return;
    }
    let n = e / (p.t * p.w);
    let t = (e / p.w) % p.t;
    let c = e % p.w;
    let po = wid.z * p.rs.z + p.prm;
    var v: f32;
    if t == 0u {
        v = prm[po + c];
    } else {
        v = src[wid.z * p.rs.x + (n * (p.t - 1u) + t - 1u) * p.w + c];
    }
    dst[wid.z * p.rs.y + e] = v + prm[po + p.w + t * p.w + c];
}

@compute @workgroup_size(256)
fn tokens_backward_dx(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * (p.t - 1u) * p.w {
        return;
    }
    let n = e / ((p.t - 1u) * p.w);
    let t = (e / p.w) % (p.t - 1u) + 1u;
    let c = e % p.w;
    dst[wid.z * p.rs.y + e] = src[wid.z * p.rs.x + (n * p.t + t) * p.w + c];
}

@compute @workgroup_size(256)
fn tokens_backward_prm(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.t * p.w {
        return;
    }
    var s = 0.0;
    for (var n = 0u; n < p.n; n++) {
        s += src[wid.z * p.rs.x + n * p.t * p.w + e];
    }
    let go = wid.z * p.rs.w + p.prm;
    grads[go + p.w + e] = s;
    if e < p.w {
        grads[go + e] = s;
    }
}

@compute @workgroup_size(256)
fn class_pool_forward(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.w {
        return;
    }
    let n = e / p.w;
    let c = e % p.w;
    dst[wid.z * p.rs.y + e] = src[wid.z * p.rs.x + n * p.t * p.w + c];
}

@compute @workgroup_size(256)
fn class_pool_backward(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.t * p.w {
        return;
    }
    let n = e / (p.t * p.w);
    let t = (e / p.w) % p.t;
    let c = e % p.w;
    var v = 0.0;
    if t == 0u {
        v = src[wid.z * p.rs.x + n * p.w + c];
    }
    dst[wid.z * p.rs.y + e] = v;
}
