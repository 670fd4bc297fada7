// BERT's embeddings before their LayerNorm (Hugging Face's BertEmbeddings): each token's word
// embedding plus its position's plus its token type's.
// The input x holds N examples of 3 * T values each, as the text batch lays them out: T token
// ids, T token types, T attention-mask values, all integers stored as f32 (exact below 2^24).
// The tables lie side by side in the flat parameter vector from prm: word [V, W], then position
// [P, W], then token type [K, W]; their gradients lie at the same offsets in grads.
// embedding_forward:  y[n, t, c] = word[id(n, t), c] + pos[t, c] + type[k(n, t), c].
// embedding_zero:     every gradient of the three tables is set to 0 (rows no token used
//                     included: the gradient vector holds the previous pass's values).
// embedding_backward: dword[id, c] += dy[n, t, c], dpos[t, c] += dy[n, t, c] and
//                     dtype[k, c] += dy[n, t, c] for each token, n then t in order.
// An id or type past its table is clamped to the last row; the host checks them first.
// Indexing: forward and zero take one invocation per element of what they write, e = (wid.x +
// wid.y * nwg.x) * 256 + the local index (the 2-D grid of grid_1d in src/kernels/launch.rs),
// decomposed row-major. The backward takes one invocation per feature c, which walks every
// token in order: each invocation owns its column of all three tables, so the sums need no
// atomics and repeat bit for bit. Invocations past the end return. Replicas: grid z is the
// replica r, which uses binding i at r * p.rs[i-1] elements past replica 0 (see Replicas in
// src/kernels/launch.rs).

struct Params {
    n: u32,
    t: u32,
    w: u32,
    prm: u32,
    vocab: u32,
    positions: u32,
    types: u32,
    _pad: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> prm: array<f32>;
@group(0) @binding(4) var<storage, read_write> grads: array<f32>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

// Token t of example n: its word row and its type row.
fn rows(xo: u32, n: u32, t: u32) -> vec2<u32> {
    let at = xo + n * 3u * p.t;
    let id = min(u32(x[at + t]), p.vocab - 1u);
    let k = min(u32(x[at + p.t + t]), p.types - 1u);
    return vec2<u32>(id, k);
}

@compute @workgroup_size(256)
fn embedding_forward(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.t * p.w {
        return;
    }
    let n = e / (p.t * p.w);
    let t = (e / p.w) % p.t;
    let c = e % p.w;
    let r = rows(wid.z * p.rs.x, n, t);
    let po = wid.z * p.rs.z + p.prm;
    let pos = po + p.vocab * p.w;
    let typ = pos + p.positions * p.w;
    y[wid.z * p.rs.y + e] = prm[po + r.x * p.w + c] + prm[pos + t * p.w + c]
        + prm[typ + r.y * p.w + c];
}

@compute @workgroup_size(256)
fn embedding_zero(@builtin(workgroup_id) wid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e < (p.vocab + p.positions + p.types) * p.w {
        grads[wid.z * p.rs.w + p.prm + e] = 0.0;
    }
}

// Here y is dy.
@compute @workgroup_size(64)
fn embedding_backward(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let c = (wid.x + wid.y * nwg.x) * 64u + lid;
    if c >= p.w {
        return;
    }
    let go = wid.z * p.rs.w + p.prm;
    let pos = go + p.vocab * p.w;
    let typ = pos + p.positions * p.w;
    for (var n = 0u; n < p.n; n++) {
        for (var t = 0u; t < p.t; t++) {
            let r = rows(wid.z * p.rs.x, n, t);
            let g = y[wid.z * p.rs.y + (n * p.t + t) * p.w + c];
            grads[go + r.x * p.w + c] += g;
            grads[pos + t * p.w + c] += g;
            grads[typ + r.y * p.w + c] += g;
        }
    }
}
