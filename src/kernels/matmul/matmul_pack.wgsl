// Pack one matmul operand from a storage buffer into an rgba32float texture array, so the
// register-blocked matmul (matmul_reg.wgsl) can read it through texture fetches. On CPU
// rasterisers such as llvmpipe a texture fetch is one vectorised gather for all SIMD lanes,
// while a storage-buffer load is a scalar loop over the lanes, about ten times slower.
//
// The packed operand is a logical rows × cols matrix X. Texel (x, y) of layer l holds
// X[r, 4x .. 4x+3] with r = l * rows_per_layer + y (layers only split matrices taller than the
// device's 2-D texture limit). Elements past cols, and rows from rows to padded_rows, are
// written as 0, so the consumer may read a whole texel or row without a bounds check and add
// exact zeros.
// Source layout: with p.transposed = 0, X[r, c] is element off + r*ld + c (row-major with
// leading dimension ld); with p.transposed = 1 the buffer holds Xᵀ, so X[r, c] is element
// off + c*ld + r. A leading dimension larger than the row lets the matmul stage one k-range of
// an operand at a time. The buffer is
// bound as vec4s (buffers are allocated in 16-byte multiples), so element e is src[e/4][e%4].
// Entry points: `pack` gathers each texel's four elements one by one and handles every layout;
// `pack_rows` is the fast path for row-major sources with off, cols and ld multiples of 4, where a
// texel is exactly one vec4 of the source.
// Indexing: one invocation per texel: the global id's x is the texel column, y the texel row
// within a layer and z the layer, so the logical row is z * rows_per_layer + y without a division.
// Replicas: replica r's operand starts r * p.rs.x elements past replica 0's and fills texture
// layers r * L .. r * L + L - 1, L = p.rs.y layers per replica; the global id's z is then the
// texture layer, r = z / L and the layer within the operand l = z % L (see Replicas in
// src/kernels/launch.rs).

struct Params {
    rows: u32,
    cols: u32,
    off: u32,
    transposed: u32,
    rows_per_layer: u32,
    padded_rows: u32,
    texels: u32,
    ld: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;

fn element(base: u32, r: u32, c: u32) -> f32 {
    if r >= p.rows || c >= p.cols {
        return 0.0;
    }
    let e = base + select(r * p.ld + c, c * p.ld + r, p.transposed != 0u);
    return src[e / 4u][e % 4u];
}

@compute @workgroup_size(16, 16)
fn pack(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let r = (gid.z % p.rs.y) * p.rows_per_layer + gid.y;
    if x >= p.texels || gid.y >= p.rows_per_layer || r >= p.padded_rows {
        return;
    }
    let c = 4u * x;
    let b = p.off + (gid.z / p.rs.y) * p.rs.x;
    let v = vec4<f32>(element(b, r, c), element(b, r, c + 1u), element(b, r, c + 2u),
                      element(b, r, c + 3u));
    textureStore(dst, gid.xy, gid.z, v);
}

@compute @workgroup_size(16, 16)
fn pack_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let r = (gid.z % p.rs.y) * p.rows_per_layer + gid.y;
    if x >= p.texels || gid.y >= p.rows_per_layer || r >= p.padded_rows {
        return;
    }
    var v = vec4<f32>(0.0);
    if r < p.rows {
        v = src[(p.off + (gid.z / p.rs.y) * p.rs.x + r * p.ld) / 4u + x];
    }
    textureStore(dst, gid.xy, gid.z, v);
}
