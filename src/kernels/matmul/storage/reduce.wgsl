// Split-k's second pass (src/kernels/matmul/split.rs), compiled after prelude.wgsl: each
// element of C is the sum of the product's slices, added in slice order, then finish() adds
// C's old value (p.accumulate) and applies the epilogue, as the unsplit kernels' stores do.
//
// Indexing: binding 1 (`a` in the prelude) holds the partial sums, slice s of replica r's
// element i = row * n + col at p.off_a + r * p.rs.x + s * m * n + i, as the split product
// wrote them; C's element at p.off_c + r * p.rs.z + i. Invocation gid.x + gid.y * (the grid's
// x extent) * 256 handles element i (a second grid axis holds counts past the per-axis
// workgroup limit); workgroup z is the replica.

@compute @workgroup_size(256)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>,
          @builtin(num_workgroups) groups: vec3<u32>,
          @builtin(workgroup_id) wid: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    let mn = p.m * p.n;
    if i >= mn {
        return;
    }
    let r = wid.z;
    let base = p.off_a + r * p.rs.x + i;
    var v = a[base];
    for (var s = 1u; s < p.splits; s++) {
        v = v + a[base + s * mn];
    }
    let at = p.off_c + r * p.rs.z + i;
    c[at] = finish(r, at, i / p.n, i % p.n, v);
}
