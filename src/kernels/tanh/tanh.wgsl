// tanh, BERT's pooler activation (Hugging Face's BertPooler: dense then tanh on the first
// token), elementwise over the first n elements of whole buffers, after the prelude
// src/kernels/elementwise.wgsl (its indexing: one invocation per vec4 e, replicas on grid z).
// tanh_forward:  y[e] = tanh(x[e]), written as sign(x) (1 - t) / (1 + t) with t = exp(-2|x|),
//                which stays finite for every x (exp(2x) overflows past x = 44) and has an
//                absolute error of a few ulp of 1.
// tanh_backward: dx[e] = dy[e] * (1 - y[e]^2); it reads the forward's output y, which the
//                layer keeps.
// After: elementwise.wgsl

fn tanh_f32(x: vec4<f32>) -> vec4<f32> {
    let t = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - t) / (1.0 + t);
}

@compute @workgroup_size(256)
fn tanh_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let o = wid.z * p.rs / 4u;
        let d = o.y + e;
        dst[d] = select(dst[d], tanh_f32(src[o.x + e]), inside(e));
    }
}

// Here src is dy and dst is dx; y is the forward's output.
@group(0) @binding(3) var<storage, read> y_out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn tanh_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let o = wid.z * p.rs / 4u;
        let d = o.y + e;
        let y = y_out[o.z + e];
        dst[d] = select(dst[d], src[o.x + e] * (1.0 - y * y), inside(e));
    }
}
