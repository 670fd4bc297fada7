//! Per-adapter kernel choices, made by measurement and cached on disk.
//!
//! The two matmul variants differ tenfold in speed depending on the adapter (llvmpipe prefers
//! register blocks, GPUs prefer workgroup tiles), so each adapter gets the one that measured
//! faster on training-sized products. The choice is stored in `tuning.json` under
//! `$SAMPA_CACHE_DIR`, else `$XDG_CACHE_HOME/sampa`, else `~/.cache/sampa`, keyed by backend,
//! adapter name and driver, so a run on the same adapter reuses it (and with it the same
//! trajectory). `sampa bench matmul` re-measures and overwrites the entry.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::matmul::{self, Dims, Form, Variant};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// One adapter's measured choice.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MatmulChoice {
    /// The chosen variant's name (`reg` or `tiled`).
    pub variant: String,
    /// GFLOP/s each variant reached on the tuning products.
    pub gflops: BTreeMap<String, f64>,
    /// What was measured.
    pub workload: String,
}

/// The tuning cache file.
pub fn cache_path() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SAMPA_CACHE_DIR") {
        return Some(PathBuf::from(dir).join("tuning.json"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("sampa").join("tuning.json"))
}

fn load() -> BTreeMap<String, MatmulChoice> {
    cache_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// Record `choice` for `gpu`'s adapter. Failing to write the cache only costs a re-measurement
/// next time, so it is reported, not fatal.
pub fn store(gpu: &Gpu, choice: &MatmulChoice) {
    let Some(path) = cache_path() else { return };
    let mut all = load();
    all.insert(gpu.adapter.key(), choice.clone());
    let text = serde_json::to_string_pretty(&all).expect("tuning cache serialises");
    if let Err(e) = crate::fsutil::write_atomic(&path, text.as_bytes()) {
        eprintln!(
            "warning: could not save kernel tuning to {}: {e}",
            path.display()
        );
    }
}

/// The cached variant for `gpu`, or measure both, store the result and return the faster.
pub fn matmul_variant(gpu: &Gpu) -> Result<Variant> {
    if let Some(choice) = load().get(&gpu.adapter.key())
        && let Ok(v) = Variant::parse(&choice.variant)
    {
        return Ok(v);
    }
    let choice = measure_matmul(gpu)?;
    store(gpu, &choice);
    Variant::parse(&choice.variant)
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

/// Time both variants on [`TUNING_PRODUCTS`] and pick the faster.
pub fn measure_matmul(gpu: &Gpu) -> Result<MatmulChoice> {
    let mut gflops = BTreeMap::new();
    for v in Variant::ALL {
        let mut flops = 0.0;
        let mut secs = 0.0;
        for (form, dims) in TUNING_PRODUCTS {
            let s = time_product(gpu, v, form, dims, 3)?;
            flops += dims.flops();
            secs += s;
        }
        gflops.insert(v.name().to_string(), flops / secs / 1e9);
    }
    let best = Variant::ALL
        .iter()
        .max_by(|a, b| gflops[a.name()].total_cmp(&gflops[b.name()]))
        .expect("two variants");
    Ok(MatmulChoice {
        variant: best.name().to_string(),
        gflops,
        workload: "MLP 784-256 forward (A·Bᵀ 128×256×784) + weight gradient (Aᵀ·B 256×256×128)"
            .to_string(),
    })
}

/// Median seconds of one product with variant `v`, over `reps` timed runs after a warm-up.
/// Each run submits the product enough times to last a few milliseconds, so submission
/// overhead does not dominate on fast GPUs.
pub fn time_product(gpu: &Gpu, v: Variant, form: Form, dims: Dims, reps: usize) -> Result<f64> {
    let mut rng = crate::rng::Pcg::new(17, 0);
    let (a_len, b_len) = (dims.m * dims.k, dims.k * dims.n);
    let a = gpu.upload(&rng.vec(a_len, -1.0, 1.0), "bench A")?;
    let b = gpu.upload(&rng.vec(b_len, -1.0, 1.0), "bench B")?;
    let c = gpu.zeros::<f32>(dims.m * dims.n, "bench C")?;
    let d = matmul::prepare_variant(gpu, v, form, dims, a.view(), b.view(), c.view(), false)?;
    let warm = Instant::now();
    gpu.run(&[&d])?;
    let once = warm.elapsed().as_secs_f64();
    let inner = ((0.005 / once.max(1e-6)) as usize).clamp(1, 64);
    let batch: Vec<&crate::kernels::Dispatch> = std::iter::repeat_n(&d, inner).collect();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        gpu.run(&batch)?;
        times.push(t.elapsed().as_secs_f64() / inner as f64);
    }
    Ok(median(&mut times))
}

/// Median of `xs` (sorted in place).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}
