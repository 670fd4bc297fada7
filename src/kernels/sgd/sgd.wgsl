// The storage form of the SGD kernels (see prelude.wgsl, which precedes this file and holds
// the arithmetic and the indexing): the two gradients are read from storage buffers, g_a at
// binding 1 and g_b at binding 2, and x and buf from the read-write bindings the prelude
// declares. The look-ahead's gradient is g_b, the mix's second gradient: in SAMPa both are g_y.
// After: decay.wgsl

@group(0) @binding(1) var<storage, read> g_a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g_b: array<vec4<f32>>;

@compute @workgroup_size(256)
fn sgd_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let first = wid.x * 256u + lid;
    var sum = 0.0;
    for (var e = first; 4u * e < p.n; e += nwg.x * 256u) {
        var g = g_a[e];
        if p.cb != 0.0 {
            g = p.ca * g + p.cb * g_b[e];
        }
        sum += squares(e, update(e, g, x[e], buf[e]).x);
    }
    sq[first] = sum;
}

@compute @workgroup_size(256)
fn sgd_step_look(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let first = wid.x * 256u + lid;
    var sum = 0.0;
    for (var e = first; 4u * e < p.n; e += nwg.x * 256u) {
        let gn = g_b[e];
        let s = update(e, mixed(g_a[e], gn), x[e], buf[e]);
        store_y(e, next_point(e, gn, s.x, s.b));
        sum += squares(e, s.x);
    }
    sq[first] = sum;
}

@compute @workgroup_size(256)
fn lookahead(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let e = vec_index(wid, nwg, lid);
    if 4u * e >= p.n {
        return;
    }
    look(e, g_b[e], x[e], buf[e]);
}
