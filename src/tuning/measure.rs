//! The measurements behind an adapter's kernel choices: the matmul variants on each shape
//! class's products, the convolutions as training steps of a small CNN, the tiled products'
//! tiles, and the two forms of the elementwise kernels.

use super::entry::{CONV, MatmulChoice};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::matmul::tile::{self, Tile};
use crate::kernels::matmul::{Dims, Form, Variant};
use crate::kernels::sgd::{SgdHyper, SgdStep};
use crate::kernels::{Kernels, ShapeClass, VectorForm};
use crate::timing;
use std::collections::BTreeMap;

/// The products tuning times: an MLP layer's forward and weight gradient at batch 128.
pub const TUNING_PRODUCTS: [(Form, Dims); 2] = [
    (
        Form::ABt,
        Dims {
            m: 128,
            n: 256,
            k: 784,
        },
    ),
    (
        Form::AtB,
        Dims {
            m: 256,
            n: 256,
            k: 128,
        },
    ),
];

/// The matmul variants tuning times on `gpu`: all it can run, except on CPU rasterisers,
/// which emulate the storage-buffer variants' workgroup memory and scalar loads slowly. There
/// they never win (tiled 0.7 GFLOP/s against `reg`'s 14.8 on lavapipe, 2026-12-02) and their
/// compilation would add a second or more to the first run, so only the register forms are
/// timed; `sampa bench matmul` still times every variant.
pub fn candidates(gpu: &Gpu) -> Vec<Variant> {
    let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    let storage = |v: &Variant| matches!(v, Variant::Tiled | Variant::Subgroup);
    Variant::on(gpu)
        .into_iter()
        .filter(|v| !(cpu && storage(v)))
        .collect()
}

/// Time the [`candidates`] on [`TUNING_PRODUCTS`] and pick the fastest; where the tiled
/// variant is a candidate, each of [`Tile::CANDIDATES`] is timed and the tiled variant's rate
/// is its best tile's.
pub fn measure_matmul(gpu: &Gpu) -> Result<MatmulChoice> {
    let mut gflops = BTreeMap::new();
    let mut tiles = BTreeMap::new();
    let mut best_tile = None;
    let variants = candidates(gpu);
    for &v in &variants {
        let rate = if v == Variant::Tiled {
            let (tile, rates) = search_tiles(gpu)?;
            best_tile = Some(tile);
            tiles = rates;
            tiles[&tile.to_string()]
        } else {
            tuning_rate(|form, dims| timing::time_product(gpu, v, form, dims, 3))?
        };
        gflops.insert(v.name().to_string(), rate);
    }
    let best = variants
        .iter()
        .max_by(|a, b| gflops[a.name()].total_cmp(&gflops[b.name()]))
        .expect("at least two candidates");
    Ok(MatmulChoice {
        variant: best.name().to_string(),
        gflops,
        workload: "MLP 784-256 forward (A·Bᵀ 128×256×784) + weight gradient (Aᵀ·B 256×256×128)"
            .to_string(),
        vectors: None,
        sampa: None,
        tile: best_tile.map(|t| t.to_string()),
        tiles,
        classes: BTreeMap::new(),
        class_rates: BTreeMap::new(),
    })
}

/// The products that stand for a shape class in tuning: sized for a GPU, or smaller on a CPU
/// rasteriser, where each must stay within tens of milliseconds.
pub fn class_products(class: ShapeClass, cpu: bool) -> Vec<(Form, Dims)> {
    let d = |m, n, k| Dims { m, n, k };
    match (class, cpu) {
        (ShapeClass::Mlp, _) => TUNING_PRODUCTS.to_vec(),
        (ShapeClass::Square, true) => vec![(Form::ABt, d(640, 640, 640))],
        (ShapeClass::Square, false) => vec![(Form::ABt, d(1024, 1024, 1024))],
        // A 3×3 convolution's weight gradient over a batch's pixels: 16 → 64 channels.
        (ShapeClass::LongK, true) => vec![(Form::AtB, d(64, 144, 16384))],
        (ShapeClass::LongK, false) => vec![(Form::AtB, d(64, 576, 32768))],
    }
}

/// Time the [`candidates`] on the larger shape classes' products and, as convolutions, in
/// training steps of a small CNN (its dense layers on `choice`'s variant), and record the
/// fastest of each in `choice`.
pub fn measure_classes(gpu: &Gpu, choice: &mut MatmulChoice) -> Result<()> {
    if let Some(t) = choice.tile.as_deref().and_then(Tile::parse) {
        tile::choose(gpu, t)?;
    }
    let cpu = gpu.adapter.is_cpu();
    let variants = candidates(gpu);
    let mut pick = |class: &str, rates: BTreeMap<String, f64>, higher_wins: bool| {
        let best = rates
            .iter()
            .max_by(|a, b| match higher_wins {
                true => a.1.total_cmp(b.1),
                false => b.1.total_cmp(a.1),
            })
            .map(|(v, _)| v.clone());
        choice.classes.extend(best.map(|v| (class.to_string(), v)));
        choice.class_rates.insert(class.to_string(), rates);
    };
    for class in [ShapeClass::Square, ShapeClass::LongK] {
        let products = class_products(class, cpu);
        let mut rates = BTreeMap::new();
        for &v in &variants {
            let (mut flops, mut secs) = (0.0, 0.0);
            for &(form, dims) in &products {
                secs += timing::time_product(gpu, v, form, dims, 3)?;
                flops += dims.flops();
            }
            rates.insert(v.name().to_string(), flops / secs / 1e9);
        }
        pick(class.name(), rates, true);
    }
    let dense = Variant::parse(&choice.variant)?;
    let mut step_ms = BTreeMap::new();
    for &v in &variants {
        step_ms.insert(v.name().to_string(), time_conv_probe(gpu, dense, v)? * 1e3);
    }
    pick(CONV, step_ms, false);
    Ok(())
}

/// Seconds per SGD step of the convolution probe, a CNN on 4×16×16 images (two 3×3
/// convolutions, 4 → 32 → 64 channels, with max pooling), its convolutions on `conv` and its
/// dense layers on `dense`: batch 128 on a GPU, 16 on a CPU rasteriser.
fn time_conv_probe(gpu: &Gpu, dense: Variant, conv: Variant) -> Result<f64> {
    let model = crate::nn::Model::cnn(4, 16, 16, 10)?;
    let mut kernels = Kernels::uniform(dense, Kernels::unmeasured(gpu.info.device_type).vectors);
    kernels.conv = Some(conv);
    let sgd = crate::train::Placement::Serial;
    let mut t = crate::train::Trainer::seeded(gpu, (&model, kernels), Default::default(), sgd)?;
    let batch = model.synthetic_batch(if gpu.adapter.is_cpu() { 16 } else { 128 });
    timing::time_steps(gpu, &mut t, &batch, 3)
}

/// GFLOP/s over [`TUNING_PRODUCTS`], each timed by `time`.
fn tuning_rate(mut time: impl FnMut(Form, Dims) -> Result<f64>) -> Result<f64> {
    let (mut flops, mut secs) = (0.0, 0.0);
    for (form, dims) in TUNING_PRODUCTS {
        secs += time(form, dims)?;
        flops += dims.flops();
    }
    Ok(flops / secs / 1e9)
}

/// Time every tile of [`Tile::CANDIDATES`] that `gpu` can run on [`TUNING_PRODUCTS`]; the
/// fastest, and each tile's GFLOP/s by name.
pub fn search_tiles(gpu: &Gpu) -> Result<(Tile, BTreeMap<String, f64>)> {
    let mut rates = BTreeMap::new();
    let mut best = (Tile::CLASSIC, f64::NEG_INFINITY);
    for tile in Tile::CANDIDATES {
        if tile.check(gpu).is_err() {
            continue;
        }
        let rate = tuning_rate(|form, dims| timing::time_tile(gpu, tile, form, dims, 3))?;
        rates.insert(tile.to_string(), rate);
        if rate > best.1 {
            best = (tile, rate);
        }
    }
    Ok((best.0, rates))
}

/// Time the SGD step in both forms over the MLP's 269 322 parameters and pick the faster; on a
/// GPU, whose storage loads are the native path, the texture form must be faster by a tenth
/// to be chosen, so timing noise does not pick it.
pub fn measure_vectors(gpu: &Gpu) -> Result<VectorForm> {
    let n = 269_322;
    let v = |what| gpu.zeros_rows(n, what);
    let (g1, g2, x, m) = (
        v("tuning g1")?,
        v("tuning g2")?,
        v("tuning x")?,
        v("tuning momentum")?,
    );
    let hyper = SgdHyper {
        lr: 1e-3,
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: false,
    };
    let mut secs = Vec::new();
    for form in VectorForm::ALL {
        let step = SgdStep::prepare(
            gpu,
            form,
            [g1.view(), g2.view()],
            (x.view(), m.view()),
            None,
        )?;
        step.set(gpu, hyper, false, 0.2);
        secs.push(timing::time_dispatch(gpu, &step.dispatch, 5)?);
    }
    let [storage, texture] = [secs[0], secs[1]];
    let margin = if gpu.adapter.is_cpu() { 1.0 } else { 0.9 };
    Ok(match texture < margin * storage {
        true => VectorForm::Texture,
        false => VectorForm::Storage,
    })
}
