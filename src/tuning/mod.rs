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
//!
//! What it must not touch: the kernels' results. A choice changes speed only (every form of a
//! kernel is held to the same f64 reference), and the cache is the only file it writes.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::matmul::tile::{self, Tile};
use crate::kernels::matmul::{VARIANT_ENV, Variant};
use crate::kernels::{Kernels, ShapeClass, VectorForm};
use std::collections::BTreeMap;
use std::path::PathBuf;

mod entry;
mod measure;

use entry::CONV;
pub use entry::MatmulChoice;
pub use measure::{
    TUNING_PRODUCTS, candidates, class_products, measure_classes, measure_matmul, measure_vectors,
    search_tiles,
};

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
