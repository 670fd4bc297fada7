// ReLU forward and backward, elementwise over the first n elements of whole buffers, after the
// prelude src/kernels/elementwise.wgsl (its indexing: one invocation per vec4 e, replicas on grid
// z).
// relu_forward: y[e] = max(x[e], 0).
// relu_backward: dx[e] = dy[e] where the forward output y[e] > 0, else 0 (the subgradient at 0
// is 0, as in PyTorch). It reads y rather than x: the two masks agree and y is what the layer keeps.
// After: elementwise.wgsl

@compute @workgroup_size(256)
fn relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let o = wid.z * p.rs / 4u;
        let d = o.y + e;
        dst[d] = select(dst[d], max(src[o.x + e], vec4<f32>(0.0)), inside(e));
    }
}

// Here src is dy and dst is dx; y is the forward output.
@group(0) @binding(3) var<storage, read> y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let o = wid.z * p.rs / 4u;
        let d = o.y + e;
        let v = select(vec4<f32>(0.0), src[o.x + e], y[o.z + e] > vec4<f32>(0.0));
        dst[d] = select(dst[d], v, inside(e));
    }
}
