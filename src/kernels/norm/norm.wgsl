// The storage form of the norm (see prelude.wgsl, which precedes this file): the vector x at
// binding 1 read as vec4s from element p.off; ASAM's weights w (n elements from element 0 of
// their own buffer, also vec4s) at binding 3; and the final stage, which reads the first
// stage's partial sums as plain floats at binding 4.
// sumsq_partial: the first stage over x. sumsq_weighted_partial: the same for the sum of
// (w[i] * x[off + i])^2, ASAM's ‖|w| ⊙ x‖². dot_partial: the same for the sum of
// w[i] * x[off + i], the dot product of w and x (GSAM's g · g_p); each invocation adds the
// four products of its vec4 in one dot, as the squares' stages do. distance_partial: the same
// for the sum of (x[off + i] - w[i])^2, the squared distance between two vectors, taken
// elementwise so that two nearly equal vectors lose nothing to cancellation (SAMPa's
// diagnosis of ‖∇f(x) − ∇f(y)‖, ASAM's ‖x̃ − x‖).

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> partials: array<f32>;

fn chunk(i: u32) -> vec4<f32> {
    return masked(i, x[p.off / 4u + i]);
}

var<workgroup> part: array<f32, 256>;

fn tree(t: u32) {
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if t < half {
            part[t] += part[t + half];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn sumsq_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    let stride = p.groups * 256u;
    let g = wid.x * 256u + t;
    for (var i = g; 4u * i < p.n; i += stride) {
        let v = chunk(i);
        s += dot(v, v);
    }
    dst[g] = s;
}

@compute @workgroup_size(256)
fn sumsq_weighted_partial(@builtin(workgroup_id) wid: vec3<u32>,
                          @builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    let stride = p.groups * 256u;
    let g = wid.x * 256u + t;
    for (var i = g; 4u * i < p.n; i += stride) {
        let v = w[i] * chunk(i);
        s += dot(v, v);
    }
    dst[g] = s;
}

@compute @workgroup_size(256)
fn dot_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    let stride = p.groups * 256u;
    let g = wid.x * 256u + t;
    for (var i = g; 4u * i < p.n; i += stride) {
        s += dot(masked(i, w[i]), chunk(i));
    }
    dst[g] = s;
}

@compute @workgroup_size(256)
fn distance_partial(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    let stride = p.groups * 256u;
    let g = wid.x * 256u + t;
    for (var i = g; 4u * i < p.n; i += stride) {
        let v = chunk(i) - masked(i, w[i]);
        s += dot(v, v);
    }
    dst[g] = s;
}

@compute @workgroup_size(256)
fn sumsq_final(@builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    for (var i = t; i < 256u * p.groups; i += 256u) {
        s += partials[i];
    }
    part[t] = s;
    tree(t);
    if t == 0u {
        dst[p.off_out] = part[0];
    }
}
