// 2×2 max pooling with stride 2, as maxpool.wgsl (same layout, winners, ReLU and ties), four
// channels per invocation: for channel counts that are multiples of 4, every buffer is bound
// as vec4s, so an invocation makes one vec4 load or store where maxpool.wgsl makes four scalar
// ones and four times the index arithmetic (storage loads are slow on CPU rasterisers).
//
// Layout: the input is [N, H, W, C], vec4 ((n*H + y)*W + x)*c4 + q holding channels 4q .. 4q+3
// (c4 = C/4); the output and `arg` are [N, H/2, W/2, C] alike. Each component compares and
// selects exactly as maxpool.wgsl's scalar code does, so both give the same bits.
// pool_forward: one invocation per output vec4. pool_backward: one per input vec4.
// Linear indices come from a 2-D grid of 256-wide workgroups (see grid_1d in src/kernels/launch.rs).
// Replicas: grid z is the replica r, which uses src, dst and arg at r * p.rs.x, r * p.rs.y and
// r * p.rs.z elements past replica 0 (multiples of 4; see Replicas in src/kernels/launch.rs).

struct Params {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    rs: vec4<u32>,
}

override RELU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> arg: array<vec4<u32>>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn pool_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    let c4 = p.c / 4u;
    let ho = p.h / 2u;
    let wo = p.w / 2u;
    if e >= p.n * ho * wo * c4 {
        return;
    }
    let q4 = e % c4;
    let xo = (e / c4) % wo;
    let yo = (e / (c4 * wo)) % ho;
    let n = e / (c4 * wo * ho);
    let o = wid.z * p.rs / 4u;
    let top = (n * p.h + 2u * yo) * p.w + 2u * xo;
    var best = src[o.x + top * c4 + q4];
    var which = vec4<u32>(0u);
    for (var q = 1u; q < 4u; q++) {
        let v = src[o.x + (top + (q / 2u) * p.w + q % 2u) * c4 + q4];
        let wins = v > best;
        best = select(best, v, wins);
        which = select(which, vec4<u32>(q), wins);
    }
    if RELU {
        let off = best <= vec4<f32>(0.0);
        best = select(best, vec4<f32>(0.0), off);
        which = select(which, vec4<u32>(4u), off);
    }
    dst[o.y + e] = best;
    arg[o.z + e] = which;
}

// Here src is the output gradient and dst the input gradient.
@compute @workgroup_size(256)
fn pool_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    let c4 = p.c / 4u;
    if e >= p.n * p.h * p.w * c4 {
        return;
    }
    let q4 = e % c4;
    let x = (e / c4) % p.w;
    let y = (e / (c4 * p.w)) % p.h;
    let n = e / (c4 * p.w * p.h);
    let ho = p.h / 2u;
    let wo = p.w / 2u;
    let r = wid.z * p.rs / 4u;
    var g = vec4<f32>(0.0);
    if y / 2u < ho && x / 2u < wo {
        let o = ((n * ho + y / 2u) * wo + x / 2u) * c4 + q4;
        let mine = arg[r.z + o] == vec4<u32>((y % 2u) * 2u + x % 2u);
        g = select(vec4<f32>(0.0), src[r.x + o], mine);
    }
    dst[r.y + e] = g;
}
