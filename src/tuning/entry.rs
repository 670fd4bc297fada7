//! One adapter's entry in the tuning cache: what was measured and chosen.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
pub const CONV: &str = "conv";
