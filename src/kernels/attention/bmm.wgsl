// Batched matrix products over strided operands, the products of multi-head attention:
//   C[b, h](m, n) = alpha * Σ_k A[b, h](m, k) * B[b, h](k, n)
// for every batch b < p.batch and head h < p.heads. Each operand is addressed through its own
// offset and four strides, so transposes and the heads' interleaving inside a token's qkv row
// cost nothing: element (b, h, i, j) of A lies at a.off + b*a.sb + h*a.sh + i*a.si + j*a.sj,
// and the same for B and C with their own offsets and strides (src/kernels/attention/mod.rs
// lists each product's).
//
// Indexing: a 16x16 workgroup computes a 16x16 tile of one C[b, h]: grid x counts tiles along
// n, grid y tiles along m, and grid z = r * batch * heads + b * heads + h, r being the replica
// (binding i of replica r lies r * p.rs[i-1] elements past replica 0, see Replicas in
// src/kernels/launch.rs). Invocation (ly, lx) owns C(m0 + ly, n0 + lx). The k range runs in
// 16-wide steps: the workgroup loads A's 16x16 block and B's 16x16 block into workgroup
// memory (zeros past the edges), then each invocation adds its 16 products in k order, so
// results repeat bit for bit.

struct Operand {
    off: u32,
    sb: u32,
    sh: u32,
    si: u32,
    sj: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    heads: u32,
    alpha: f32,
    _pad0: u32,
    _pad1: u32,
    a: Operand,
    b: Operand,
    c: Operand,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

var<workgroup> tile_a: array<array<f32, 16>, 16>;
var<workgroup> tile_b: array<array<f32, 16>, 16>;

// The start of operand o's matrix (b, h) for replica r, whose stride is rs.
fn base(o: Operand, bh: u32, r: u32, rs: u32) -> u32 {
    return r * rs + o.off + (bh / p.heads) * o.sb + (bh % p.heads) * o.sh;
}

@compute @workgroup_size(16, 16)
fn bmm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let per_replica = p.batch * p.heads;
    let r = wid.z / per_replica;
    let bh = wid.z % per_replica;
    let ab = base(p.a, bh, r, p.rs.x);
    let bb = base(p.b, bh, r, p.rs.y);
    let row = wid.y * 16u + lid.y;
    let col = wid.x * 16u + lid.x;
    var acc = 0.0;
    for (var k0 = 0u; k0 < p.k; k0 += 16u) {
        // Invocation (ly, lx) loads A(row, k0 + lx) and B(k0 + ly, col).
        let ka = k0 + lid.x;
        let kb = k0 + lid.y;
        var va = 0.0;
        if row < p.m && ka < p.k {
            va = a[ab + row * p.a.si + ka * p.a.sj];
        }
        var vb = 0.0;
        if kb < p.k && col < p.n {
            vb = b[bb + kb * p.b.si + col * p.b.sj];
        }
        tile_a[lid.y][lid.x] = va;
        tile_b[lid.y][lid.x] = vb;
        workgroupBarrier();
        for (var j = 0u; j < 16u; j++) {
            acc += tile_a[lid.y][j] * tile_b[j][lid.x];
        }
        workgroupBarrier();
    }
    if row < p.m && col < p.n {
        c[base(p.c, bh, r, p.rs.z) + row * p.c.si + col * p.c.sj] = p.alpha * acc;
    }
}
