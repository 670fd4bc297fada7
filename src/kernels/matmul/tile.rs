//! The tiled variant's tile sizes: pipeline constants of `storage/tiled.wgsl`, chosen per
//! adapter by a short search (see `crate::tuning`), or the classic 64×64 tile where nothing was
//! measured. Every configuration sums each output in k order, so the choice changes speed,
//! never bits.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One tile configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// Rows of C per workgroup.
    pub bm: u32,
    /// Columns of C per workgroup.
    pub bn: u32,
    /// K per shared-memory slice.
    pub bk: u32,
    /// Rows of C per invocation (1, 2, 4 or 8).
    pub tm: u32,
    /// Columns of C per invocation (4 or 8).
    pub tn: u32,
}

impl Tile {
    /// 64×64 blocks, 16-deep slices, 4×4 per invocation in 16×16 invocations: the classic tile.
    pub const CLASSIC: Tile = Tile::new(64, 64, 16, 4, 4);

    /// The configurations the search times: the classic tile, larger register blocks (more
    /// products per shared read) and a small tile for small products.
    pub const CANDIDATES: [Tile; 5] = [
        Tile::CLASSIC,
        Tile::new(128, 128, 8, 8, 8),
        Tile::new(128, 64, 16, 8, 4),
        Tile::new(64, 128, 16, 4, 8),
        Tile::new(32, 64, 16, 2, 4),
    ];

    const fn new(bm: u32, bn: u32, bk: u32, tm: u32, tn: u32) -> Tile {
        Tile { bm, bn, bk, tm, tn }
    }

    /// Invocations per workgroup along x (columns) and y (rows).
    pub fn workgroup(&self) -> (u32, u32) {
        (self.bn / self.tn, self.bm / self.tm)
    }

    /// The shader's pipeline constants.
    pub fn constants(&self) -> [(&'static str, f64); 7] {
        let (wx, wy) = self.workgroup();
        [
            ("BM", self.bm as f64),
            ("BN", self.bn as f64),
            ("BK", self.bk as f64),
            ("TM", self.tm as f64),
            ("TN4", (self.tn / 4) as f64),
            ("WX", wx as f64),
            ("WY", wy as f64),
        ]
    }

    /// An error unless the shader's arrays hold the tile and `gpu` can run its workgroup.
    pub fn check(&self, gpu: &Gpu) -> Result<()> {
        let fits = [1, 2, 4, 8].contains(&self.tm)
            && [4, 8].contains(&self.tn)
            && self.bm.is_multiple_of(self.tm.max(4))
            && self.bn.is_multiple_of(self.tn)
            && self.bk > 0
            && self.bm * self.bk <= 2048
            && self.bn * self.bk <= 2048;
        // The workgroup divides by tm and tn: only a tile that fits has one.
        let (wx, wy) = if fits { self.workgroup() } else { (0, 0) };
        let runs = wx * wy <= gpu.limits.max_compute_invocations_per_workgroup
            && wx <= gpu.limits.max_compute_workgroup_size_x
            && wy <= gpu.limits.max_compute_workgroup_size_y
            && gpu.limits.max_compute_workgroup_storage_size >= 16384;
        if fits && runs {
            Ok(())
        } else {
            Err(Error::shape(
                "matmul",
                format!("tile {self} does not fit this device or kernel"),
            ))
        }
    }

    /// Parse [`Tile`]'s display form, `BMxBNxBK/TMxTN`.
    pub fn parse(s: &str) -> Option<Tile> {
        let (block, thread) = s.split_once('/')?;
        let n: Vec<u32> = block
            .split('x')
            .chain(thread.split('x'))
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        match n[..] {
            [bm, bn, bk, tm, tn] => Some(Tile::new(bm, bn, bk, tm, tn)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}x{}/{}x{}",
            self.bm, self.bn, self.bk, self.tm, self.tn
        )
    }
}

/// The tile each adapter's tiled products use, by adapter key, once tuning chose one.
static CHOSEN: Mutex<BTreeMap<String, Tile>> = Mutex::new(BTreeMap::new());

/// The tile `gpu`'s tiled products use: the chosen one, else the classic tile.
pub fn for_gpu(gpu: &Gpu) -> Tile {
    let chosen = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    chosen
        .get(&gpu.adapter.key())
        .copied()
        .unwrap_or(Tile::CLASSIC)
}

/// Make `tile` the one `gpu`'s tiled products use from now on (products already prepared
/// keep theirs; every tile gives the same bits).
pub fn choose(gpu: &Gpu, tile: Tile) -> Result<()> {
    tile.check(gpu)?;
    let mut chosen = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    chosen.insert(gpu.adapter.key(), tile);
    Ok(())
}
