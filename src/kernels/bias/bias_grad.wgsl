// Bias gradient: the per-channel sum of dy over a tensor seen as [outer, channels, inner].
// See bias.wgsl for the layout. The sum of channel c is fixed as follows, whichever entry
// computes it: the elements (o, c, s) are numbered by their flat position r = o*inner + s;
// partial t (t = 0..63) adds the elements with r = t, t+64, t+128, ... in increasing order,
// starting from 0; then the 64 partials are added by a fixed tree (partial t += partial
// t + half, for half = 32, 16, ..., 1). The result, partial 0, goes to element off_b + c of db
// (the flat gradient vector), added to what is there with p.accumulate. Every entry computes
// exactly these additions, so they give the same bits.
//
// `bias_grad`: one workgroup of 64 invocations per channel (workgroup id = channel, folded
// into a 2-D grid when there are many); invocation t computes partial t, and the tree runs in
// workgroup memory with a barrier per level. For long sums (convolutions' N*H*W).
// `bias_grad_lanes`: one invocation per channel (global invocation x = channel, in 64-wide
// workgroups), which computes all 64 partials and the tree in its own registers. For short
// sums (a linear layer's batch): no barriers and no workgroup memory, which CPU rasterisers
// emulate slowly (llvmpipe: 0.8 ms for 128×256 in the workgroup form), and neighbouring
// invocations read neighbouring channels.
// `bias_grad_texels`: a linear layer's short sums (inner = 1) read from dy as the weight
// gradient's product staged it, as its op(A) = dyᵀ in an rgba32float texture array
// (matmul_pack.wgsl): channel ch is texture row ch % p.layer_rows of layer ch / p.layer_rows,
// and texel x of that row holds dy rows 4x .. 4x + 3, zero past outer. One invocation per
// channel, as in `bias_grad_lanes`, but a texel fetch is one gather for all SIMD lanes where a
// storage load is a loop over them (llvmpipe: 0.15 against 0.26 ms for 128×256). Partial t adds
// component t % 4 of texels t / 4, t / 4 + 16, ...: vec4 j of the loop holds partials
// 4j .. 4j + 3, so the same additions happen component by component (a padding zero adds
// nothing: a sum that starts at +0 is never -0).
// Replicas: grid z is the replica r, which reads dy at r * p.rs.x and writes db at r * p.rs.y
// elements past replica 0 (see Replicas in src/kernels/launch.rs); `bias_grad_texels` reads
// replica r's rows from layer r * p.layers on.

struct Params {
    outer: u32,
    channels: u32,
    inner: u32,
    off_b: u32,
    accumulate: u32,
    layer_rows: u32,
    layers: u32,
    _pad: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;
@group(0) @binding(3) var dy_t: texture_2d_array<f32>;

var<workgroup> partial: array<f32, 64>;

// Where element r of channel ch lies in dy: (o, ch, s) with o = r / inner, s = r % inner.
// A linear layer's inner is 1, whose elements skip the division (CPUs have no SIMD integer
// division, and it cost the one-invocation entry most of its time on llvmpipe).
fn at(r: u32, ch: u32) -> u32 {
    if p.inner == 1u {
        return r * p.channels + ch;
    }
    let o = r / p.inner;
    let i = r % p.inner;
    return (o * p.channels + ch) * p.inner + i;
}

@compute @workgroup_size(64)
fn bias_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) t: u32) {
    let ch = wid.x + wid.y * nwg.x;
    if ch >= p.channels {
        return;
    }
    let count = p.outer * p.inner;
    let dy0 = wid.z * p.rs.x;
    var s = 0.0;
    for (var r = t; r < count; r += 64u) {
        s += dy[dy0 + at(r, ch)];
    }
    partial[t] = s;
    workgroupBarrier();
    for (var half = 32u; half > 0u; half >>= 1u) {
        if t < half {
            partial[t] += partial[t + half];
        }
        workgroupBarrier();
    }
    if t == 0u {
        store(wid.z, ch, partial[0]);
    }
}

fn store(r: u32, ch: u32, sum: f32) {
    let at = r * p.rs.y + p.off_b + ch;
    if p.accumulate != 0u {
        db[at] += sum;
    } else {
        db[at] = sum;
    }
}

@compute @workgroup_size(64)
fn bias_grad_lanes(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if ch >= p.channels {
        return;
    }
    let count = p.outer * p.inner;
    let dy0 = gid.z * p.rs.x;
    var part: array<f32, 64>;
    for (var t = 0u; t < 64u; t++) {
        var s = 0.0;
        for (var r = t; r < count; r += 64u) {
            s += dy[dy0 + at(r, ch)];
        }
        part[t] = s;
    }
    for (var half = 32u; half > 0u; half >>= 1u) {
        for (var t = 0u; t < half; t++) {
            part[t] += part[t + half];
        }
    }
    store(gid.z, ch, part[0]);
}

// Partials 4j .. 4j + 3 of the channel in texture row `row` of `layer` (see
// bias_grad_texels), from the first `texels` texels.
fn texel_partials(j: u32, row: i32, layer: i32, texels: u32) -> vec4<f32> {
    var s = vec4<f32>(0.0);
    for (var x = j; x < texels; x += 16u) {
        s += textureLoad(dy_t, vec2<i32>(i32(x), row), layer, 0);
    }
    return s;
}

@compute @workgroup_size(64)
fn bias_grad_texels(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if ch >= p.channels {
        return;
    }
    let layer = i32(gid.z * p.layers + ch / p.layer_rows);
    let row = i32(ch % p.layer_rows);
    let texels = (p.outer + 3u) / 4u;
    // The tree through an array, as in bias_grad_lanes: written out as one expression, GL's
    // llvmpipe reassociated the additions (another order, other bits).
    var part: array<vec4<f32>, 16>;
    for (var j = 0u; j < 16u; j++) {
        part[j] = texel_partials(j, row, layer, texels);
    }
    // Levels half = 32 .. 4 pair whole vec4s (partial t with t + half is vec4 t / 4 with
    // t / 4 + half / 4); half = 2 and 1 pair the last vec4's components.
    for (var half = 8u; half > 0u; half >>= 1u) {
        for (var j = 0u; j < half; j++) {
            part[j] += part[j + half];
        }
    }
    let even = part[0].x + part[0].z;
    let odd = part[0].y + part[0].w;
    store(gid.z, ch, even + odd);
}
