// Global squared L2 norm of a flat vector, as a two-stage reduction.
//
// sumsq_partial: G workgroups of 256 invocations (G = p.groups, fixed by the host from n, never
// by timing). Global invocation g = wid*256 + t sums x[off + i]^2 for i = g, g + 256G, g + 512G,
// ... in order; each workgroup then adds its 256 sums by a fixed tree into dst[wid] (dst is the
// partials buffer here).
// sumsq_final: one workgroup, with x bound to the partials and dst to the output vector;
// invocation t sums partials t, t+256, ... and a fixed tree adds those, writing dst[p.off_out].
// sumsq_weighted_partial: as sumsq_partial for the sum of (w[i] * x[off + i])^2, ASAM's
// ‖|w| ⊙ x‖² (w is n elements from element 0 of its own buffer).
// Both stages have a fixed order, so the norm is reproducible bit for bit on one adapter. The result stays on the device for the kernels that divide by it.

struct Params {
    n: u32,
    off: u32,
    groups: u32,
    off_out: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@group(0) @binding(3) var<storage, read> w: array<f32>;

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
    for (var i = wid.x * 256u + t; i < p.n; i += stride) {
        let v = x[p.off + i];
        s += v * v;
    }
    part[t] = s;
    tree(t);
    if t == 0u {
        dst[wid.x] = part[0];
    }
}

@compute @workgroup_size(256)
fn sumsq_weighted_partial(@builtin(workgroup_id) wid: vec3<u32>,
                          @builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    let stride = p.groups * 256u;
    for (var i = wid.x * 256u + t; i < p.n; i += stride) {
        let v = w[i] * x[p.off + i];
        s += v * v;
    }
    part[t] = s;
    tree(t);
    if t == 0u {
        dst[wid.x] = part[0];
    }
}

@compute @workgroup_size(256)
fn sumsq_final(@builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    for (var i = t; i < p.groups; i += 256u) {
        s += x[i];
    }
    part[t] = s;
    tree(t);
    if t == 0u {
        dst[p.off_out] = part[0];
    }
}
