// Batched transpose: out[b, j, i] = in[b, i, j] for a batch of rows × cols matrices.
// It flattens pixel-major conv activations [N, H*W, C] into PyTorch's per-sample (c, y, x)
// order [N, C, H*W] before the first linear layer, and (with rows and cols swapped) carries the
// gradient back.
// Layout: in is [batch, rows, cols] row-major, out is [batch, cols, rows] row-major.
// One invocation per output element e = (b*cols + j)*rows + i, from a 2-D grid of 256-wide
// workgroups (see grid_1d in src/kernels/launch.rs).
// Replicas: grid z is the replica r, which reads at r * p.rs.x and writes at r * p.rs.y
// elements past replica 0 (see Replicas in src/kernels/launch.rs).

struct Params {
    batch: u32,
    rows: u32,
    cols: u32,
    _pad: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn transpose(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    if e >= p.batch * p.rows * p.cols {
        return;
    }
    let i = e % p.rows;
    let j = (e / p.rows) % p.cols;
    let b = e / (p.rows * p.cols);
    dst[wid.z * p.rs.y + e] = src[wid.z * p.rs.x + (b * p.rows + i) * p.cols + j];
}
