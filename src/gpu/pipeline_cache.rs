//! The driver's compiled pipelines, kept on disk between runs where the backend offers it
//! (`wgpu::PipelineCache`, Vulkan today), so that a start does not compile every kernel
//! again. The file sits in the cache directory beside the tuning cache
//! (`pipelines/<wgpu's key>.bin`, see `crate::cache_dir`), is read when
//! a device opens and written back, whole and atomically, when the last handle to the device
//! goes, if compiling added to it. wgpu checks the file's header against the adapter and
//! driver and ignores a file that does not match; a file that cannot be read costs only the
//! compilations.

use std::path::PathBuf;
use std::sync::Mutex;

/// A cache file larger than this is not read (no driver's cache of sampa's few dozen kernels
/// comes near it).
const MAX_BYTES: u64 = 256 << 20;

/// The device's pipeline cache and where it is saved.
pub struct DiskCache {
    pub(crate) cache: wgpu::PipelineCache,
    path: PathBuf,
    /// The size of the data last read or written: unchanged data is not written again.
    saved: Mutex<usize>,
}

impl DiskCache {
    /// The cache for a device opened on `info`'s adapter with `features`, seeded from its
    /// file; `None` where the backend has no pipeline cache or there is no cache directory.
    pub fn open(
        device: &wgpu::Device,
        info: &wgpu::AdapterInfo,
        features: wgpu::Features,
    ) -> Option<DiskCache> {
        if !features.contains(wgpu::Features::PIPELINE_CACHE) {
            return None;
        }
        let key = wgpu::util::pipeline_cache_key(info)?;
        let path = crate::cache_dir::cache_dir()?
            .join("pipelines")
            .join(format!("{key}.bin"));
        let data = std::fs::metadata(&path)
            .ok()
            .filter(|m| m.len() <= MAX_BYTES)
            .and_then(|_| std::fs::read(&path).ok());
        // SAFETY: the data, if any, is a file this module wrote from `PipelineCache::get_data`
        // (whole, by an atomic rename) for an adapter with the same key; with `fallback`,
        // wgpu validates its header and starts empty when it does not match.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("sampa pipelines"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        let saved = Mutex::new(data.map_or(0, |d| d.len()));
        Some(DiskCache { cache, path, saved })
    }

    /// Write the cache's data back if it changed since it was read or last written.
    pub fn save(&self) {
        let Some(data) = self.cache.get_data() else {
            return;
        };
        let mut saved = self.saved.lock().expect("pipeline cache size");
        if data.len() == *saved {
            return;
        }
        match crate::fsutil::write_atomic(&self.path, &data) {
            Ok(()) => *saved = data.len(),
            Err(e) => crate::errln!(
                "warning: could not save compiled pipelines to {}: {e}",
                self.path.display()
            ),
        }
    }
}

impl Drop for DiskCache {
    fn drop(&mut self) {
        self.save();
    }
}
