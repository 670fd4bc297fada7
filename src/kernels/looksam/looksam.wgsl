// LookSAM's two combinations (Liu et al., "Towards Efficient and Scalable Sharpness-Aware
// Minimization", CVPR 2022). With g the gradient at x and gs SAM's gradient at the perturbed
// point, both from a SAM step:
//   project:  out = gs − c·g,   c = (g · gs) / (‖g‖² + eps)
// the part of gs orthogonal to g (LookSAM's g_v), kept for the steps in between; and on those
// steps, with g the step's own gradient and v the kept g_v:
//   reuse:    out = g + α·(‖g‖ / (‖v‖ + eps))·v
// The scalars were written to the device by the norm kernels, at elements p.off_s and
// p.off_s + 1 of s: for project (g · gs, ‖g‖²), for reuse (‖g‖², ‖v‖²). No value crosses to
// the host.
//
// Layout: a, b and out are n elements from element 0 of their own buffers (whole vectors as
// long as the parameters): a = g and b = gs for project, a = g and b = v for reuse. One
// invocation per element; the linear index e is rebuilt from a 2-D grid of 256-wide
// workgroups (see grid_1d in src/kernels/launch.rs), and invocations past n return.

struct Params {
    n: u32,
    off_s: u32,
    alpha: f32,
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
fn project(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let e = element(wid, nwg, lid);
    if e < p.n {
        let c = s[p.off_s] / (s[p.off_s + 1u] + p.eps);
        out[e] = b[e] - c * a[e];
    }
}

@compute @workgroup_size(256)
fn reuse(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let e = element(wid, nwg, lid);
    if e < p.n {
        let scale = p.alpha * sqrt(s[p.off_s]) / (sqrt(s[p.off_s + 1u]) + p.eps);
        out[e] = a[e] + scale * b[e];
    }
}
