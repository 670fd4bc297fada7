// Mean squared error of a one-output regression head (GLUE's STS-B, as Hugging Face's
// BertForSequenceClassification trains a model of one label), forward and backward, and the
// batch's mean loss, in one dispatch.
//
// Layout: pred and dpred hold one value per row (the head's single output; row = example).
// targets holds each row's target as the bits of an f32 (the batch's labels buffer, whose
// values are u32), read with bitcast. loss_r = (pred_r - t_r)^2 and
// dloss/dpred_r = 2 (pred_r - t_r) / rows, the gradient of the MEAN loss, as PyTorch's
// MSELoss(reduction = "mean").
//
// Indexing: one workgroup of 256 invocations. Invocation t handles rows t, t+256, t+512, ...
// in order and keeps its own loss sum; a fixed tree then adds the 256 partial sums, so the
// result does not depend on timing. metrics[0] = mean loss; metrics[1] and metrics[2] (the
// classifiers' correct and top-5 counts) are 0, a regression having no classes. dpred is
// written only when p.write_grad is 1 (evaluation passes skip it). row_loss[r] is row r's own
// loss, laid out like targets.
// Replicas: grid z is the replica r (one workgroup each), which uses pred, targets, dpred and
// metrics at r * p.rs.x, .y, .z and .w elements past replica 0 (see Replicas in
// src/kernels/launch.rs), and row_loss at targets' offset.

struct Params {
    rows: u32,
    write_grad: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> dpred: array<f32>;
@group(0) @binding(4) var<storage, read_write> metrics: array<f32>;
@group(0) @binding(5) var<storage, read_write> row_loss: array<f32>;

var<workgroup> loss_part: array<f32, 256>;

@compute @workgroup_size(256)
fn mse(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let o = wid.z * p.rs;
    var loss_sum = 0.0;
    let inv_rows = 1.0 / f32(p.rows);
    for (var r = t; r < p.rows; r += 256u) {
        let d = pred[o.x + r] - bitcast<f32>(targets[o.y + r]);
        let loss = d * d;
        row_loss[o.y + r] = loss;
        loss_sum += loss;
        if p.write_grad != 0u {
            dpred[o.z + r] = 2.0 * d * inv_rows;
        }
    }
    loss_part[t] = loss_sum;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if t < half {
            loss_part[t] += loss_part[t + half];
        }
        workgroupBarrier();
    }
    if t == 0u {
        metrics[o.w] = loss_part[0] / f32(p.rows);
        metrics[o.w + 1u] = 0.0;
        metrics[o.w + 2u] = 0.0;
    }
}
