// Fused softmax + cross-entropy with optional label smoothing, forward and backward, and the
// batch's mean loss and numbers of correct predictions (top-1 and top-5), in one dispatch.
//
// Layout: logits and dlogits are [rows, classes] row-major (row = example); labels holds one
// class index per row. The smoothed target of row r is t_c = (1 - eps) [c == label] + eps / C,
// as in PyTorch's CrossEntropyLoss(label_smoothing = eps). With z the row's logits and
// lse = log Σ exp z: loss_r = Σ_c t_c (lse - z_c) and dloss/dz_c = (softmax_c - t_c) / rows
// (the gradient of the MEAN loss). A prediction is the first index of the row's maximum. The
// label is among the top 5 when fewer than 5 classes score strictly higher than it.
//
// Indexing: one workgroup of 256 invocations. Invocation t handles rows t, t+256, t+512, ...
// in order and keeps its own loss and count sums; a fixed tree then adds the 256 partial
// sums, so the result does not depend on timing. metrics[0] = mean loss, metrics[1] = correct
// count, metrics[2] = top-5 count (counts exact in f32 up to 2^24 rows). dlogits is written
// only when p.write_grad is 1 (evaluation passes skip it). row_loss[r] is row r's own loss
// (ESAM compares each example's loss at two points), laid out like labels.
// Replicas: grid z is the replica r (one workgroup each), which uses logits, labels, dlogits
// and metrics at r * p.rs.x, .y, .z and .w elements past replica 0 (see Replicas in
// src/kernels/launch.rs), and row_loss at labels' offset.

struct Params {
    rows: u32,
    classes: u32,
    smoothing: f32,
    write_grad: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> metrics: array<f32>;
@group(0) @binding(5) var<storage, read_write> row_loss: array<f32>;

var<workgroup> loss_part: array<f32, 256>;
var<workgroup> correct_part: array<f32, 256>;
var<workgroup> top5_part: array<f32, 256>;

@compute @workgroup_size(256)
fn softmax_xent(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let o = wid.z * p.rs;
    let c_count = p.classes;
    let eps = p.smoothing;
    let off_target = eps / f32(c_count);
    var loss_sum = 0.0;
    var correct = 0.0;
    var top5 = 0.0;
    for (var r = t; r < p.rows; r += 256u) {
        let base = o.x + r * c_count;
        let label = labels[o.y + r];
        var zmax = logits[base];
        var arg = 0u;
        for (var c = 1u; c < c_count; c++) {
            let z = logits[base + c];
            if z > zmax {
                zmax = z;
                arg = c;
            }
        }
        let z_label = logits[base + label];
        var sum_exp = 0.0;
        var sum_z = 0.0;
        var higher = 0u;
        for (var c = 0u; c < c_count; c++) {
            let z = logits[base + c];
            sum_exp += exp(z - zmax);
            sum_z += z;
            higher += select(0u, 1u, z > z_label);
        }
        let lse = zmax + log(sum_exp);
        let loss = (1.0 - eps) * (lse - z_label) + off_target * (f32(c_count) * lse - sum_z);
        row_loss[o.y + r] = loss;
        loss_sum += loss;
        correct += select(0.0, 1.0, arg == label);
        top5 += select(0.0, 1.0, higher < 5u);
        if p.write_grad != 0u {
            let inv_rows = 1.0 / f32(p.rows);
            for (var c = 0u; c < c_count; c++) {
                let prob = exp(logits[base + c] - lse);
                let tgt = select(off_target, 1.0 - eps + off_target, c == label);
                dlogits[o.z + r * c_count + c] = (prob - tgt) * inv_rows;
            }
        }
    }
    loss_part[t] = loss_sum;
    correct_part[t] = correct;
    top5_part[t] = top5;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if t < half {
            loss_part[t] += loss_part[t + half];
            correct_part[t] += correct_part[t + half];
            top5_part[t] += top5_part[t + half];
        }
        workgroupBarrier();
    }
    if t == 0u {
        metrics[o.w] = loss_part[0] / f32(p.rows);
        metrics[o.w + 1u] = correct_part[0];
        metrics[o.w + 2u] = top5_part[0];
    }
}
