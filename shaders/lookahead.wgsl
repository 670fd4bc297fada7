// SAMPa's auxiliary point: y = x - lr * d, where d is the direction the SGD step of sgd.wgsl
// would take with gradient g, momentum buffer buf and the same hyper-parameters, but nothing is
// written except y (the official code's look-ahead). The paper's bare x - lr * g is the same
// kernel with mu = wd = 0. On the first step there is no momentum buffer yet (p.first = 1).
// One invocation per four parameters, the buffers bound as vec4s as in sgd.wgsl; the vec4
// index e is rebuilt from a 2-D grid of 256-wide workgroups (see grid_1d in
// src/kernels/mod.rs), and elements 4e..4e+3 past n keep their old values. g, x, buf and y
// share one layout: element i of each is the same scalar parameter.

struct Params {
    n: u32,
    first: u32,
    nesterov: u32,
    _pad: u32,
    lr: f32,
    mu: f32,
    wd: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> buf: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn lookahead(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    let base = e * 4u;
    if base >= p.n {
        return;
    }
    var d = g[e] + p.wd * x[e];
    var b = d;
    if p.first == 0u {
        b = p.mu * buf[e] + d;
    }
    if p.nesterov != 0u {
        d = d + p.mu * b;
    } else {
        d = b;
    }
    let keep = vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n);
    y[e] = select(y[e], x[e] - p.lr * d, keep);
}
