//! `sampa bench data`: how many images a second an image folder's batches decode, as training
//! forms them (shuffled, with `--augment imagenet`'s random resized crops or the square
//! resize), for each number of decoding threads. Host work only: no adapter is opened.

use sampa::data::{self, Batch, BatchOptions, Batcher, LoadOptions, Source};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub(super) struct DataArgs {
    /// An image folder: DIR/train/<class>/* and DIR/test/ or DIR/val/.
    #[arg(long)]
    data: PathBuf,
    /// The side the images are sized to.
    #[arg(long, default_value_t = 224)]
    image_size: usize,
    /// ImageNet's sizing and training crops (`--augment imagenet`) rather than the square
    /// resize.
    #[arg(long)]
    imagenet: bool,
    /// Decoding threads to time, comma-separated [default: 1 and one per core].
    #[arg(long, value_delimiter = ',')]
    workers: Vec<usize>,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Batches timed per setting (fewer when the split ends first).
    #[arg(long, default_value_t = 20)]
    batches: usize,
}

pub(super) fn data(a: DataArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.batch > 0 && a.batches > 0,
        "--batch and --batches must be at least 1"
    );
    let mut workers = a.workers.clone();
    if workers.is_empty() {
        workers = vec![1, data::default_workers()];
        workers.dedup();
    }
    anyhow::ensure!(
        workers.iter().all(|&w| w > 0),
        "--workers: each count must be at least 1, got {workers:?}"
    );
    sampa::outln!(
        "{:>8} {:>10} {:>8} {:>10}  (decoding {} at {s}×{s}, batches of {}{})",
        "workers",
        "images/s",
        "images",
        "seconds",
        a.data.display(),
        a.batch,
        if a.imagenet {
            ", ImageNet's random resized crops"
        } else {
            ", resized to the square"
        },
        s = a.image_size,
    );
    for &w in &workers {
        let opts = LoadOptions {
            image_size: Some(a.image_size),
            folder_size: a.image_size,
            classes: None,
            imagenet: a.imagenet,
            workers: w,
        };
        let splits = data::load(&Source::Dir(a.data.clone()), opts)?;
        anyhow::ensure!(
            splits.train.is_streamed(),
            "--data {}: expected an image folder (train/<class>/ and test/ or val/)",
            a.data.display()
        );
        let batches = BatchOptions {
            batch: a.batch,
            shuffle: true,
            seed: 0,
            normalize: a.imagenet.then(|| data::IMAGENET_STATS.to_vec()),
            augment: false,
            cutout: false,
            imagenet: a.imagenet,
        };
        let mut b = Batcher::new(&splits.train, batches, 0);
        let mut batch = Batch::default();
        let (clock, mut images) = (Instant::now(), 0);
        for _ in 0..a.batches {
            if !b.next_into(&mut batch)? {
                break;
            }
            images += batch.len();
        }
        let seconds = clock.elapsed().as_secs_f64();
        sampa::outln!(
            "{w:>8} {:>10.1} {images:>8} {seconds:>10.2}",
            images as f64 / seconds
        );
    }
    Ok(())
}
