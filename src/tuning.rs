//! Per-adapter kernel choices, made by measurement and cached on disk.
//!
//! The matmul variants differ tenfold in speed depending on the adapter (llvmpipe prefers
//! register blocks read from textures, GPUs prefer workgroup tiles) and on the product's shape
//! (only the storage forms split a long sum over many workgroups), and the two forms of the
//! elementwise optimizer kernels differ too, so each adapter gets the ones that measured
//! faster: a matmul variant per shape class ([`ShapeClass`]: the MLP's products, larger
//! square-ish ones, long sums) and for the convolutions (timed as convolutions, in training
//! steps of a small CNN), and a form of the elementwise kernels. Candidates are timed on the
//! device where the adapter has timestamp queries, on the host otherwise.
//! The variants of one class compute the same bits (the tiled ones split long sums, which
//! rounds differently: see `kernels::matmul::split`), so the choice changes speed only. It is
//! stored in `tuning.json` under `$SAMPA_CACHE_DIR`, else `$XDG_CACHE_HOME/sampa`, else
//! `~/.cache/sampa`, keyed by backend, adapter name and driver, and remeasured when another
//! sampa version wrote the entry. Measuring is announced on stderr, since it delays the first
//! run on an adapter by a few seconds (most of it the driver compiling the candidates).
//! `SAMPA_MATMUL=reg|reg8|tiled|subgroup` forces the matmul variant; `sampa bench matmul` re-measures
//! every variant and overwrites the entry.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::matmul::tile::{self, Tile};
use crate::kernels::matmul::{Dims, Form, VARIANT_ENV, Variant};
use crate::kernels::sgd::{SgdHyper, SgdStep};
use crate::kernels::{Kernels, ShapeClass, VectorForm};
use crate::timing;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One adapter's measured choices.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MatmulChoice {
    /// The chosen matmul variant's name (`reg`, `reg8`, `tiled` or `subgroup`).
    pub variant: String,
    /// GFLOP/s each variant reached on the tuning products.
    pub gflops: BTreeMap<String, f64>,
    /// What was measured.
    pub workload: String,
    /// The chosen form of the elementwise kernels (`storage` or `texture`); measured on its
    /// own when an older cache entry lacks it.
    #[serde(default)]
    pub vectors: Option<String>,
    /// The sampa version that measured it: another version's entry is measured again, since
    /// its kernels may have changed.
    #[serde(default)]
    pub sampa: Option<String>,
    /// The tiled products' tile (`BMxBNxBK/TMxTN`) the search chose, where it ran (adapters
    /// that are not CPU rasterisers); the classic tile otherwise.
    #[serde(default)]
    pub tile: Option<String>,
    /// GFLOP/s each searched tile reached on the tuning products.
    #[serde(default)]
    pub tiles: BTreeMap<String, f64>,
    /// The variant chosen per shape class (`square`, `long-k`) and for the convolutions
    /// (`conv`); `variant` is the MLP class's. Empty in an entry that timed the MLP's products
    /// only (an older build's, or `sampa bench matmul`'s), whose classes are then measured.
    #[serde(default)]
    pub classes: BTreeMap<String, String>,
    /// What each variant reached per class: GFLOP/s of the class's product, and for `conv`
    /// milliseconds per step of the probe CNN.
    #[serde(default)]
    pub class_rates: BTreeMap<String, BTreeMap<String, f64>>,
}

/// The class name of the convolutions in [`MatmulChoice::classes`].
const CONV: &str = "conv";

/// This build's version, recorded with every entry.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The tuning cache file.
pub fn cache_path() -> Option<PathBuf> {
    crate::cache_dir::cache_dir().map(|d| d.join("tuning.json"))
}

fn load() -> BTreeMap<String, MatmulChoice> {
    let Some((path, text)) =
        cache_path().and_then(|p| Some((p.clone(), std::fs::read_to_string(p).ok()?)))
    else {
        return BTreeMap::new();
    };
    if serde_json::from_str::<serde_json::Value>(&text).is_err() {
        crate::errln!(
            "warning: {}: not a tuning cache (it does not parse as JSON); ignored, and rewritten \
             after measuring",
            path.display()
        );
    }
    parse_cache(&text)
}

/// Why `gpu` cannot use the cached `entry` as it stands, if it cannot: a variant the device
/// cannot run, or a tile that does not parse or does not fit the device (an edited or damaged
/// cache, or one copied from another machine; a tile with a zero in it once divided by zero).
fn unusable(gpu: &Gpu, entry: &MatmulChoice) -> Option<String> {
    let named = std::iter::once(("matmul", &entry.variant));
    let classes = entry.classes.iter().map(|(c, v)| (c.as_str(), v));
    for (class, variant) in named.chain(classes) {
        match Variant::parse(variant).map(|v| v.require(gpu)) {
            Ok(Err(e)) => return Some(format!("its {class} variant {variant}: {e}")),
            Err(e) if class != "matmul" => return Some(format!("its {class} variant: {e}")),
            _ => {}
        }
    }
    let tile = entry.tile.as_deref()?;
    match Tile::parse(tile) {
        None => Some(format!(
            "its tile {tile:?} is not of the form BMxBNxBK/TMxTN"
        )),
        Some(t) => t.check(gpu).err().map(|e| format!("its tile {tile}: {e}")),
    }
}

/// The tuning cache's entries from its text; a cache that does not parse is empty (its
/// adapters are measured again and the file rewritten), never an error.
pub fn parse_cache(text: &str) -> BTreeMap<String, MatmulChoice> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The kernel forms an entry records, each `None` when it names no known form (an entry of
/// another sampa version, or an edited one, is measured again).
pub fn entry_forms(c: &MatmulChoice) -> (Option<Variant>, Option<VectorForm>) {
    let vectors = c.vectors.as_deref().and_then(|v| VectorForm::parse(v).ok());
    (Variant::parse(&c.variant).ok(), vectors)
}

/// Record `choice` for `gpu`'s adapter. Failing to write the cache only costs a re-measurement
/// next time, so it is reported, not fatal.
pub fn store(gpu: &Gpu, choice: &MatmulChoice) {
    let Some(path) = cache_path() else { return };
    let mut all = load();
    all.insert(gpu.adapter.key(), choice.clone());
    let text = serde_json::to_string_pretty(&all).expect("tuning cache serialises");
    if let Err(e) = crate::fsutil::write_atomic(&path, text.as_bytes()) {
        crate::errln!(
            "warning: could not save kernel tuning to {}: {e}",
            path.display()
        );
    }
}

/// The kernel forms for `gpu`: from the cache, else measured, stored and returned;
/// `SAMPA_MATMUL` forces one matmul variant for every class and the convolutions.
pub fn choose(gpu: &Gpu) -> Result<Kernels> {
    let (choice, vectors) = cached_or_measured(gpu, None)?;
    // Where the search chose a tile, the tiled products use it (it changes speed, not bits).
    if let Some(t) = choice.tile.as_deref().and_then(Tile::parse) {
        tile::choose(gpu, t)?;
    }
    if let Ok(s) = std::env::var(VARIANT_ENV) {
        let forced =
            Variant::parse(&s).map_err(|e| Error::Invalid(format!("{VARIANT_ENV}: {e}")))?;
        forced
            .require(gpu)
            .map_err(|e| Error::Invalid(format!("{VARIANT_ENV}={}: {e}", forced.name())))?;
        return Ok(Kernels::uniform(forced, vectors));
    }
    let mut kernels = Kernels::uniform(Variant::parse(&choice.variant)?, vectors);
    let class = |name: &str| -> Result<Option<Variant>> {
        let v = choice
            .classes
            .get(name)
            .map(|v| Variant::parse(v))
            .transpose()?;
        Ok(v.filter(|&v| v != kernels.matmul))
    };
    kernels.square = class(ShapeClass::Square.name())?;
    kernels.long_k = class(ShapeClass::LongK.name())?;
    kernels.conv = class(CONV)?;
    Ok(kernels)
}

/// `gpu`'s cache entry and its vector form: the matmul choice given (a fresh measurement),
/// else the cached one, else a measurement; the cached vector form, else a measurement.
/// Stores the entry when anything was measured.
fn cached_or_measured(
    gpu: &Gpu,
    matmul: Option<MatmulChoice>,
) -> Result<(MatmulChoice, VectorForm)> {
    let cached = load()
        .remove(&gpu.adapter.key())
        .filter(|c| c.sampa.as_deref() == Some(VERSION))
        .filter(|c| match unusable(gpu, c) {
            None => true,
            Some(why) => {
                let path = cache_path().map_or(String::new(), |p| p.display().to_string());
                crate::errln!(
                    "warning: {path}: the entry for {} is unusable ({why}); dropped and \
                     measured again",
                    gpu.adapter.short()
                );
                false
            }
        });
    let (cached_variant, cached_form) = cached.as_ref().map_or((None, None), entry_forms);
    let started = std::time::Instant::now();
    let no_classes = cached.as_ref().is_none_or(|c| c.classes.is_empty());
    let announce =
        matmul.is_none() && (cached_variant.is_none() || cached_form.is_none() || no_classes);
    if announce {
        let variants: Vec<&str> = candidates(gpu).iter().map(|v| v.name()).collect();
        crate::errln!(
            "tuning kernels for {} (its first use with sampa {VERSION}): timing matmul {} per \
             product shape and on convolutions, and the optimizer's two forms, a few seconds; \
             cached for later runs",
            gpu.adapter.short(),
            variants.join(", ")
        );
    }
    let (mut choice, mut measured) = match (matmul, cached) {
        (Some(m), _) => (m, true),
        (None, Some(c)) if cached_variant.is_some() => (c, false),
        (None, _) => (measure_matmul(gpu)?, true),
    };
    if choice.classes.is_empty() {
        measure_classes(gpu, &mut choice)?;
        measured = true;
    }
    let form = match cached_form {
        Some(form) => form,
        None => measure_vectors(gpu)?,
    };
    if measured || choice.vectors.as_deref() != Some(form.name()) {
        choice.vectors = Some(form.name().to_string());
        choice.sampa = Some(VERSION.to_string());
        store(gpu, &choice);
    }
    if announce {
        let classes: Vec<String> = choice
            .classes
            .iter()
            .map(|(class, v)| format!("{class} {v}"))
            .collect();
        crate::errln!(
            "tuned in {:.1} s: matmul {} ({:.1} GFLOP/s; {}), optimizer kernels read {}{}",
            started.elapsed().as_secs_f64(),
            choice.variant,
            choice
                .gflops
                .get(&choice.variant)
                .copied()
                .unwrap_or(f64::NAN),
            classes.join(", "),
            form.name(),
            cache_path().map_or(String::new(), |p| format!("; saved in {}", p.display()))
        );
    }
    Ok((choice, form))
}

/// Record a fresh matmul measurement for `gpu`, keeping the adapter's vector form (measured
/// if it has none yet).
pub fn record_matmul(gpu: &Gpu, choice: MatmulChoice) -> Result<MatmulChoice> {
    Ok(cached_or_measured(gpu, Some(choice))?.0)
}

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
        let step = SgdStep::prepare(gpu, form, [g1.view(), g2.view()], x.view(), m.view())?;
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
