//! Helpers for GPU tests, in the library so that the kernels' own unit tests and the
//! integration tests share them: the adapters under test, and tolerance checks that print
//! what they measured.

use super::adapters;
use super::device::{ADAPTER_ENV, Gpu};
use crate::error::{Error, Result};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Open one `Gpu` per adapter: every adapter, or only the one `SAMPA_ADAPTER` selects. Fails
/// (never skips) when there is none, saying how to get one.
pub fn test_gpus() -> Result<Vec<Gpu>> {
    test_gpus_for(std::env::var(ADAPTER_ENV).ok().as_deref())
}

/// [`test_gpus`] with the selection given explicitly.
pub fn test_gpus_for(spec: Option<&str>) -> Result<Vec<Gpu>> {
    pollster::block_on(async {
        let instance = adapters::instance();
        let all = adapters::enumerate(&instance).await;
        if let Some(spec) = spec {
            let (index, adapter) = adapters::select(all, Some(spec), ADAPTER_ENV)?;
            return Ok(vec![Gpu::from_adapter(index, adapter).await?]);
        }
        if all.is_empty() {
            return Err(Error::NoAdapter);
        }
        let mut gpus = Vec::new();
        for (index, adapter) in all.into_iter().enumerate() {
            gpus.push(Gpu::from_adapter(index, adapter).await?);
        }
        Ok(gpus)
    })
}

/// The adapters under test, held by one test at a time: wgpu's GL backend gives up (panics)
/// when another thread holds its context longer than a few seconds, which a blocking wait on
/// llvmpipe can, so GPU tests in one binary take turns.
pub struct Gpus {
    _turn: MutexGuard<'static, ()>,
    list: &'static [Gpu],
}

impl std::ops::Deref for Gpus {
    type Target = [Gpu];
    fn deref(&self) -> &[Gpu] {
        self.list
    }
}

impl<'a> IntoIterator for &'a Gpus {
    type Item = &'a Gpu;
    type IntoIter = std::slice::Iter<'a, Gpu>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// Every adapter on this machine (or the one `SAMPA_ADAPTER` names), opened once per test
/// binary. No adapter is a failure with instructions, never a skip.
pub fn gpus() -> Gpus {
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    Gpus {
        _turn: turn,
        list: all_gpus(),
    }
}

fn all_gpus() -> &'static [Gpu] {
    static GPUS: OnceLock<Vec<Gpu>> = OnceLock::new();
    GPUS.get_or_init(|| match test_gpus() {
        Ok(g) => {
            for gpu in &g {
                eprintln!("testing on {}", gpu.adapter.short());
            }
            g
        }
        Err(e) => panic!("GPU tests need a WebGPU adapter: {e}"),
    })
}

/// Largest |got - want| / (atol + rtol·|want|); the check passes when it is ≤ 1.
/// Returns (that ratio, the max absolute difference).
pub fn compare(got: &[f32], want: &[f64], atol: f64, rtol: f64) -> (f64, f64) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    let mut worst: f64 = 0.0;
    let mut max_abs: f64 = 0.0;
    for (&g, &w) in got.iter().zip(want) {
        let d = (g as f64 - w).abs();
        assert!(d.is_finite(), "non-finite result {g} (want {w})");
        max_abs = max_abs.max(d);
        worst = worst.max(d / (atol + rtol * w.abs()));
    }
    (worst, max_abs)
}

/// Assert [`compare`] passes, printing the max difference either way.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    let (worst, max_abs) = compare(got, want, atol, rtol);
    eprintln!("{what}: max |diff| = {max_abs:.3e} (atol {atol:.0e}, rtol {rtol:.0e})");
    assert!(
        worst <= 1.0,
        "{what}: max |diff| {max_abs:.3e} exceeds atol {atol:.0e} + rtol {rtol:.0e}·|want|"
    );
}
