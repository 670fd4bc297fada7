// The weight gradient's last step: the partial sums wgrad.wgsl wrote per split of the pixels,
// added in split order and written in PyTorch's layout.
//
// part holds, for split s, an o × (4*q4) matrix at element (s*o + row)*4*q4 + col: column
// (ky*k + kx)*cin_p + c is tap (ky, kx) of input channel c (cin_p = 4*cin4 channels, the real
// ones c < cin), and with bias = 1 column k*k*cin_p holds the bias gradient. The weight gradient
// [o, cin, k, k] goes to element off_w + ((row*cin + c)*k + ky)*k + kx of grad, the bias
// gradient to off_b + row.
// One invocation per gradient element e: e < o*cin*k*k is a weight entry, the o entries after
// it (when bias = 1) the bias; the linear index is rebuilt from a 2-D grid of 256-wide
// workgroups (grid_1d in src/kernels/launch.rs). Replicas: global z is the replica, whose
// partial sums start rs.x elements and whose gradients rs.y elements after the previous one's.

struct Params {
    o: u32,
    cin: u32,
    k: u32,
    cin_p: u32,
    q4: u32,
    splits: u32,
    off_w: u32,
    off_b: u32,
    bias: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    let kk = p.k * p.k;
    let weights = p.o * p.cin * kk;
    if e >= weights + p.bias * p.o {
        return;
    }
    var row: u32;
    var col: u32;
    var dst: u32;
    if e < weights {
        row = e / (p.cin * kk);
        let c = (e / kk) % p.cin;
        col = (e % kk) * p.cin_p + c;
        dst = p.off_w + e;
    } else {
        row = e - weights;
        col = kk * p.cin_p;
        dst = p.off_b + row;
    }
    let base = wid.z * p.rs.x;
    let width = 4u * p.q4;
    var sum = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        sum += part[base + (s * p.o + row) * width + col];
    }
    grad[wid.z * p.rs.y + dst] = sum;
}
