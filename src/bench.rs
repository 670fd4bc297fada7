//! Cross-adapter benchmarks: the same kernels on every adapter, reported side by side.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::matmul::{Dims, Form, Variant};
use crate::tuning::{self, MatmulChoice};
use serde::Serialize;

/// One measured product.
#[derive(Clone, Debug, Serialize)]
pub struct MatmulRow {
    /// `#i Backend Type "name"`.
    pub adapter: String,
    /// Backend name.
    pub backend: String,
    /// `reg` or `tiled`.
    pub variant: String,
    /// Which workload the product belongs to (`square` or `mlp`).
    pub group: String,
    /// Human-readable description of the product.
    pub shape: String,
    /// Median milliseconds per product.
    pub ms: f64,
    /// GFLOP/s.
    pub gflops: f64,
}

/// The products of one SGD step of the MLP 784-256-256-10 at batch 128: three forward
/// products (X·Wᵀ), three weight gradients (dYᵀ·X) and two input gradients (dY·W).
pub fn mlp_products(batch: usize, widths: &[usize]) -> Vec<(String, Form, Dims)> {
    let mut v = Vec::new();
    for (i, pair) in widths.windows(2).enumerate() {
        let (inp, out) = (pair[0], pair[1]);
        v.push((
            format!("fwd L{i} X·Wᵀ"),
            Form::ABt,
            Dims {
                m: batch,
                n: out,
                k: inp,
            },
        ));
        v.push((
            format!("dW L{i} dYᵀ·X"),
            Form::AtB,
            Dims {
                m: out,
                n: inp,
                k: batch,
            },
        ));
        if i > 0 {
            v.push((
                format!("dX L{i} dY·W"),
                Form::AB,
                Dims {
                    m: batch,
                    n: inp,
                    k: out,
                },
            ));
        }
    }
    v
}

/// What [`matmul`] measured on one adapter.
#[derive(Clone, Debug)]
pub struct MatmulBench {
    /// One row per product and variant.
    pub rows: Vec<MatmulRow>,
    /// Per variant, the aggregate GFLOP/s of all the MLP step's products.
    pub mlp_rates: Vec<(Variant, f64)>,
}

/// Time `variants` on square products of `sizes` and on the MLP step's products, on `gpu`.
pub fn matmul(
    gpu: &Gpu,
    variants: &[Variant],
    sizes: &[usize],
    reps: usize,
    mut progress: impl FnMut(&MatmulRow),
) -> Result<MatmulBench> {
    let mut rows = Vec::new();
    let mut mlp_rates = Vec::new();
    let row = |variant: Variant, group: &str, shape: String, dims: Dims, secs: f64| MatmulRow {
        adapter: gpu.adapter.short(),
        backend: gpu.adapter.backend.clone(),
        variant: variant.name().to_string(),
        group: group.to_string(),
        shape,
        ms: secs * 1e3,
        gflops: dims.flops() / secs / 1e9,
    };
    for &v in variants {
        for &s in sizes {
            let dims = Dims { m: s, n: s, k: s };
            let secs = tuning::time_product(gpu, v, Form::AB, dims, reps)?;
            let r = row(v, "square", format!("{s}×{s}×{s} A·B"), dims, secs);
            progress(&r);
            rows.push(r);
        }
        let (mut flops, mut secs_total) = (0.0, 0.0);
        for (name, form, dims) in mlp_products(128, &[784, 256, 256, 10]) {
            let secs = tuning::time_product(gpu, v, form, dims, reps)?;
            flops += dims.flops();
            secs_total += secs;
            let r = row(
                v,
                "mlp",
                format!("{name} {}×{}×{}", dims.m, dims.n, dims.k),
                dims,
                secs,
            );
            progress(&r);
            rows.push(r);
        }
        mlp_rates.push((v, flops / secs_total / 1e9));
    }
    Ok(MatmulBench { rows, mlp_rates })
}

/// Choose the variant with the best MLP-step rate and record it in the tuning cache.
pub fn record_choice(gpu: &Gpu, mlp_rates: &[(Variant, f64)]) -> Option<MatmulChoice> {
    let best = mlp_rates.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let choice = MatmulChoice {
        variant: best.0.name().to_string(),
        gflops: mlp_rates
            .iter()
            .map(|(v, r)| (v.name().to_string(), *r))
            .collect(),
        workload: "all matmuls of one MLP 784-256-256-10 SGD step at batch 128 (sampa bench)"
            .to_string(),
    };
    tuning::store(gpu, &choice);
    gpu.set_matmul_variant(best.0);
    Some(choice)
}
