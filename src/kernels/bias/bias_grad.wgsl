// Bias gradient: the per-channel sum of dy over a tensor seen as [outer, channels, inner].
// See bias.wgsl for the layout. The sum of channel c is fixed as follows, whichever entry
// computes it: the elements (o, c, s) are numbered by their flat position r = o*inner + s;
// partial t (t = 0..63) adds the elements with r = t, t+64, t+128, ... in increasing order,
// starting from 0; then the 64 partials are added by a fixed tree (partial t += partial
// t + half, for half = 32, 16, ..., 1). The result, partial 0, goes to element off_b + c of db
// (the flat gradient vector), added to what is there with p.accumulate. Both entries compute
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
// Replicas: grid z is the replica r, which reads dy at r * p.rs.x and writes db at r * p.rs.y
// elements past replica 0 (see Replicas in src/kernels/launch.rs).

struct Params {
    outer: u32,
    channels: u32,
    inner: u32,
    off_b: u32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

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
