// Two combinations of two gradients a and b through scalars the norm kernels left on the
// device (s[0] and s[1]), so no value crosses to the host:
//   orthogonal:  out = u·b + v·(a − c·b),   c = s[0] / (s[1] + eps),  s = (a · b, ‖b‖²)
// a − c·b is the part of a orthogonal to b. GSAM's update gradient (Zhuang et al., ICLR 2022,
// the authors' gradient_decompose) is u = 1, v = −α with a = g (at x) and b = g_p (at the
// perturbed point); LookSAM's g_v (Liu et al., CVPR 2022) is u = 0, v = 1 with a = g_s (the
// perturbed gradient) and b = g (at x).
//   rescaled:    out = a + v·(√s[0] / (√s[1] + eps))·b,   s = (‖a‖², ‖b‖²)
// b added at v times a's norm over its own: LookSAM's step between its SAM steps, with a = g
// and b the kept g_v.
//
// Layout: a, b and out are n elements from element 0 of their own buffers (whole vectors as
// long as the parameters). One invocation per element; the linear index e is rebuilt from a
// 2-D grid of 256-wide workgroups (see grid_1d in src/kernels/launch.rs), and invocations past
// n return.

struct Params {
    n: u32,
    u: f32,
    v: f32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn orthogonal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let e = element(wid, nwg, lid);
    if e < p.n {
        let c = s[0] / (s[1] + p.eps);
        out[e] = p.u * b[e] + p.v * (a[e] - c * b[e]);
    }
}

@compute @workgroup_size(256)
fn rescaled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = element(wid, nwg, lid);
    if e < p.n {
        let scale = p.v * sqrt(s[0]) / (sqrt(s[1]) + p.eps);
        out[e] = a[e] + scale * b[e];
    }
}
