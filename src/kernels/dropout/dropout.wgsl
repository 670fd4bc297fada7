// Inverted dropout, in place: data[e] *= keep(e) ? scale : 0 over elements 0..n of each
// replica, scale = 1 / (1 - rate). The forward scales the activations and the backward their
// gradient with the same call, so both see one mask without storing it.
//
// The mask is a counter-based hash, so any pass can recompute it from its key: with
// k = pcg(key ^ pcg(site)), element e is kept when pcg(k ^ pcg(e)) >= threshold, threshold =
// rate·2^32 (pcg is the PCG output permutation of Jarzynski and Olano's "Hash Functions for
// GPU Rendering"). key names the gradient pass (the trainer derives it from the seed, the step
// and the pass), site the model layer, so every layer and every pass draws its own mask.
//
// Indexing: one invocation per four elements, data bound as vec4s (buffers are allocated in
// 16-byte multiples). The vec4 index e is rebuilt from a 2-D grid of 256-wide workgroups (see
// grid_1d in src/kernels/launch.rs); elements past n keep their values. Replicas: grid z is
// the replica r, whose data starts rs.x elements (a multiple of 4) after replica r - 1's and
// whose key is keys[r * rs.y].

struct Params {
    n: u32,
    threshold: u32,
    scale: f32,
    site: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> data: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> keys: array<u32>;

fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e >= p.n {
        return;
    }
    let k = pcg(keys[wid.z * p.rs.y] ^ pcg(p.site));
    let first = 4u * e;
    let at = wid.z * p.rs.x / 4u + e;
    var v = data[at];
    for (var i = 0u; i < 4u; i++) {
        let keep = pcg(k ^ pcg(first + i)) >= p.threshold;
        if first + i < p.n {
            v[i] = select(0.0, v[i] * p.scale, keep);
        }
    }
    data[at] = v;
}
