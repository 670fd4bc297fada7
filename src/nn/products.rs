//! The product kernels one training step runs, as the evaluator prepares them: per linear
//! layer three dense products (forward, weight gradient, input gradient past the first
//! layer); per convolution either the same three as dense products on im2col columns (the
//! tiled form) or its implicit-GEMM kernels (the register forms, see `super::layers`). The
//! benchmarks time each alone to say what share of a step its products take.

use super::layer::{Act, Layer};
use super::layers::implicit_rows;
use super::model::Model;
use crate::kernels::Kernels;
use crate::kernels::conv::implicit::Conv;
use crate::kernels::matmul::{Dims, Form, Variant};

/// Which pass of a convolution an implicit product computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPass {
    /// y = conv(x) + b, with x's image staged first.
    Forward,
    /// dW and db, with dy's image staged first.
    WeightGrad,
    /// dx, from the image of dy the weight gradient staged.
    DataGrad,
}

/// One product kernel of a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepProduct {
    /// A dense product with the variant that runs it (with its operand staging in the
    /// register forms).
    Dense(Form, Dims, Variant),
    /// An implicit-GEMM convolution pass; `rows` per invocation, `first` when the input is
    /// the NCHW batch.
    Conv {
        /// The pass.
        pass: ConvPass,
        /// The geometry.
        conv: Conv,
        /// Rows per invocation (the register form's 16 or 8).
        rows: usize,
        /// Whether the input is the batch (NCHW, staged by a kernel) rather than activations.
        first: bool,
    },
}

impl StepProduct {
    /// Floating-point operations it does for the layer (padding channels not counted).
    pub fn flops(&self) -> f64 {
        match self {
            StepProduct::Dense(_, dims, _) => dims.flops(),
            StepProduct::Conv { conv, .. } => conv.flops(),
        }
    }
}

impl Model {
    /// The product kernels of one training step at `batch` with the forms `kernels` choose
    /// (each dense product's variant by its shape class, a convolution's im2col products by
    /// the convolutions' variant), named for reports.
    pub fn step_products(&self, batch: usize, kernels: Kernels) -> Vec<(String, StepProduct)> {
        let variant = kernels.conv();
        let mut out = Vec::new();
        let mut dense = self.matmul_products(batch).into_iter();
        for (i, (layer, input, first)) in self.product_layers().into_iter().enumerate() {
            let take = if first { 2 } else { 3 };
            let implicit = match (layer, input) {
                (
                    Layer::Conv2d {
                        cin,
                        cout,
                        k: side,
                        pad,
                        stride,
                        ..
                    },
                    Act::Image(_, h, w),
                ) => {
                    let conv = Conv {
                        n: batch,
                        cin,
                        h,
                        w,
                        cout,
                        k: side,
                        stride,
                        pad,
                    };
                    implicit_rows(variant, (cin, cout, stride), first).map(|rows| (conv, rows))
                }
                _ => None,
            };
            let dense_parts: Vec<_> = dense.by_ref().take(take).collect();
            let conv = matches!(layer, Layer::Conv2d { .. });
            let pick = |dims| match conv {
                true => variant,
                false => kernels.dense(dims),
            };
            match implicit {
                None => {
                    out.extend(dense_parts.into_iter().map(|(name, form, dims)| {
                        (name, StepProduct::Dense(form, dims, pick(dims)))
                    }))
                }
                Some((conv, rows)) => {
                    let passes = [
                        ("fwd", ConvPass::Forward),
                        ("dW", ConvPass::WeightGrad),
                        ("dX", ConvPass::DataGrad),
                    ];
                    for (name, pass) in passes.into_iter().take(take) {
                        let p = StepProduct::Conv {
                            pass,
                            conv,
                            rows,
                            first,
                        };
                        out.push((format!("{name} L{i} implicit conv"), p));
                    }
                }
            }
        }
        out
    }
}
