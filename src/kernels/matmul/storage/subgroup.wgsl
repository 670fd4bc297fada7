// Matrix multiply C = op(A) · op(B) with subgroup shuffles: the variant for GPUs that offer
// subgroups. Where the tiled variant shares A's values among invocations through workgroup
// memory (a store, a barrier, a load), here each lane of a subgroup loads one k of A's rows
// and the others read it from that lane's registers with subgroupShuffle; no workgroup memory
// and no barrier.
//
// Compiled after prelude.wgsl, which holds the layout of A, B and C, the uniform, the bindings,
// load_a and the epilogue (finish); the host chunks a long k as for the tiled variant.
//
// Indexing. Workgroups are one-dimensional, WG invocations. Workgroup (wx, wy) owns rows
// TM*wy .. TM*wy+TM-1 of C; its invocation t owns columns 4*(WG*wx + t) .. +3 of those rows,
// a TM×4 block held as TM vec4 accumulators. Every invocation of a workgroup therefore works on
// the same rows, so every subgroup does too, however the device groups invocations into
// subgroups. k is walked in slices of `lanes` = min(subgroup size, WG) values (a subgroup is
// never wider than the workgroup's invocations it holds): lane l loads A(row, k0 + l) for each
// of its TM rows, and at step j every lane takes A(row, k0 + j) from lane j with
// subgroupShuffle. The slice's length is the same for every lane (it depends on k0 and K
// only), so the shuffles run in uniform control flow; invocations whose rows or columns lie
// past C's edge take part in them and skip only their stores. Each invocation then reads
// op(B)(k0 + j, its 4 columns) (zero past N) and adds a * b to its accumulators.
//
// Summation order: each C element adds its K terms one at a time in k order, with no padding
// terms (the slice stops at K), as the other variants do, so it gives their sums. With
// p.accumulate = 1, C += result; finish() then applies the epilogue. Workgroup z is the replica (and the split-k slice, see prelude.wgsl).

// No `enable subgroups;` here: naga (wgpu 30) rejects the directive and takes subgroup
// builtins when the device has the feature; browsers require it, so the wasm32 build puts it
// before the prelude (see src/kernels/matmul/subgroup.rs).

// Invocations per workgroup, and rows of C per invocation (1, 2, 4 or 8).
override WG: u32 = 64u;
override TM: u32 = 8u;

// op(B)(k, col .. col+3), zero past N. Written out rather than looped: llvmpipe counts a
// short loop's iterations across the whole k loop against its cap (see tiled.wgsl).
fn load_b(base: u32, k: u32, col: u32) -> f32 {
    if col >= p.n {
        return 0.0;
    }
    return b[base + select(k * p.ldb + col, col * p.ldb + k, TRANS_B)];
}

fn load_b4(base: u32, k: u32, col: u32) -> vec4<f32> {
    return vec4<f32>(load_b(base, k, col), load_b(base, k, col + 1u), load_b(base, k, col + 2u),
                     load_b(base, k, col + 3u));
}

// The invocation's TM×4 block of C, row i at acc[i].
var<private> acc: array<vec4<f32>, 8>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) t: u32,
        @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_size) sg: u32) {
    let row0 = wid.y * TM;
    let col = 4u * (wid.x * WG + t);
    // Where this replica's (and split slice's) A, B and C start.
    let start = slice_of(wid.z);
    let k_len = slice_len(wid.z);
    let lanes = min(sg, WG);
    for (var k0 = 0u; k0 < k_len; k0 += lanes) {
        // This lane's k of each row; rows past TM stay zero and are never read (the guards
        // are pipeline constants, so the compiler drops them).
        let kl = k0 + lane;
        let a0 = load_a(start.x, row0, kl);
        var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
        var a4 = 0.0; var a5 = 0.0; var a6 = 0.0; var a7 = 0.0;
        if TM > 1u {
            a1 = load_a(start.x, row0 + 1u, kl);
        }
        if TM > 2u {
            a2 = load_a(start.x, row0 + 2u, kl);
            a3 = load_a(start.x, row0 + 3u, kl);
        }
        if TM > 4u {
            a4 = load_a(start.x, row0 + 4u, kl);
            a5 = load_a(start.x, row0 + 5u, kl);
            a6 = load_a(start.x, row0 + 6u, kl);
            a7 = load_a(start.x, row0 + 7u, kl);
        }
        let count = min(lanes, k_len - k0);
        for (var j = 0u; j < count; j++) {
            let bv = load_b4(start.y, k0 + j, col);
            acc[0] += subgroupShuffle(a0, j) * bv;
            if TM > 1u {
                acc[1] += subgroupShuffle(a1, j) * bv;
            }
            if TM > 2u {
                acc[2] += subgroupShuffle(a2, j) * bv;
                acc[3] += subgroupShuffle(a3, j) * bv;
            }
            if TM > 4u {
                acc[4] += subgroupShuffle(a4, j) * bv;
                acc[5] += subgroupShuffle(a5, j) * bv;
                acc[6] += subgroupShuffle(a6, j) * bv;
                acc[7] += subgroupShuffle(a7, j) * bv;
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let row = row0 + i;
        if row < p.m {
            for (var q = 0u; q < 4u; q++) {
                if col + q < p.n {
                    let at = start.z + row * p.n + col + q;
                    c[at] = finish(replica, at, row, col + q, acc[i][q]);
                }
            }
        }
    }
}
