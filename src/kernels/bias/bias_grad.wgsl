// Bias gradient: the per-channel sum of dy over a tensor seen as [outer, channels, inner].
// See bias.wgsl for the layout. One workgroup of 64 invocations per channel (workgroup id =
// channel, folded into a 2-D grid when there are many). Invocation t sums the elements (o, c, s)
// whose flat position r = o*inner + s is t, t+64, t+128, ... in increasing order; the 64 partial
// sums are then added by a fixed tree, so the result does not depend on timing. The sum goes to
// element off_b + c of db (the flat gradient vector), added to what is there with p.accumulate.
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
        let o = r / p.inner;
        let i = r % p.inner;
        s += dy[dy0 + (o * p.channels + ch) * p.inner + i];
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
        let at = wid.z * p.rs.y + p.off_b + ch;
        if p.accumulate != 0u {
            db[at] += partial[0];
        } else {
            db[at] = partial[0];
        }
    }
}
