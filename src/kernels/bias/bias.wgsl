// Bias add over a tensor seen as [outer, channels, inner].
// A linear layer's [batch, features] output is outer = batch, channels = features, inner = 1;
// a convolution's NCHW output is outer = batch, channels = C, inner = H*W. The bias has one value
// per channel, at element off_b + c of its buffer (the flat parameter vector).
// One invocation per element of y: the linear element index e (rebuilt from a 2-D grid of
// 256-wide workgroups, see grid_1d in src/kernels/launch.rs) has channel (e / inner) % channels.
// The gradient is in bias_grad.wgsl.
// Replicas: grid z is the replica r, which reads the bias at r * p.rs.x and writes y at
// r * p.rs.y elements past replica 0 (see Replicas in src/kernels/launch.rs).

struct Params {
    outer: u32,
    channels: u32,
    inner: u32,
    off_b: u32,
    accumulate: u32,
    // The staged-texture layout of bias_grad.wgsl's bias_grad_texels; one Rust struct fills
    // both kernels' blocks, and the add ignores these.
    layer_rows: u32,
    layers: u32,
    _pad: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn bias_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    if e >= p.outer * p.channels * p.inner {
        return;
    }
    let ch = (e / p.inner) % p.channels;
    y[wid.z * p.rs.y + e] += bias[wid.z * p.rs.x + p.off_b + ch];
}
