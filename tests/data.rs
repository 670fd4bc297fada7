#![cfg(not(target_arch = "wasm32"))]
//! Dataset readers on files the tests write themselves, the embedded subset, and batching.

mod common;
use sampa::data::{self, Batch, BatchOptions, Batcher, LoadOptions, Source};
use std::io::Write;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sampa-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idx_images(n: usize, h: usize, w: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        v.extend((d as u32).to_be_bytes());
    }
    v.extend((0..n * h * w).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend((labels.len() as u32).to_be_bytes());
    v.extend(labels);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write_idx(dir: &Path, compress: bool, train_labels: &[u8], test_labels: &[u8]) {
    let sfx = if compress { ".gz" } else { "" };
    let enc = |b: Vec<u8>| if compress { gz(&b) } else { b };
    std::fs::write(
        dir.join(format!("train-images-idx3-ubyte{sfx}")),
        enc(idx_images(train_labels.len(), 4, 3, 1)),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("train-labels-idx1-ubyte{sfx}")),
        enc(idx_labels(train_labels)),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("t10k-images-idx3-ubyte{sfx}")),
        enc(idx_images(test_labels.len(), 4, 3, 2)),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("t10k-labels-idx1-ubyte{sfx}")),
        enc(idx_labels(test_labels)),
    )
    .unwrap();
}

fn load(dir: &Path) -> sampa::Result<data::Splits> {
    load_with(dir, None)
}

fn load_with(dir: &Path, classes: Option<usize>) -> sampa::Result<data::Splits> {
    // Image folders at 8×8; IDX and CIFAR at their own size.
    let opts = LoadOptions {
        image_size: None,
        folder_size: 8,
        classes,
        imagenet: false,
        workers: 2,
    };
    data::load(&Source::Dir(dir.to_path_buf()), opts)
}

#[test]
fn embedded_subset_is_stratified_fashion_mnist() {
    let s = data::load(&Source::Embedded, LoadOptions::sized(None)).unwrap();
    assert_eq!((s.train.len(), s.test.len(), s.classes), (6000, 1000, 10));
    assert_eq!(
        s.train.shape,
        data::ImageShape {
            channels: 1,
            height: 28,
            width: 28
        }
    );
    for c in 0..10 {
        assert_eq!(s.train.labels.iter().filter(|&&l| l == c).count(), 600);
        assert_eq!(s.test.labels.iter().filter(|&&l| l == c).count(), 100);
    }
    assert!(s.description.contains("embedded Fashion-MNIST subset"));
}

#[test]
fn idx_reads_plain_and_gzip_identically() {
    let (a, b) = (tmp("idx-plain"), tmp("idx-gz"));
    write_idx(&a, false, &[0, 1, 2, 1, 0], &[2, 2]);
    write_idx(&b, true, &[0, 1, 2, 1, 0], &[2, 2]);
    let (sa, sb) = (load(&a).unwrap(), load(&b).unwrap());
    assert_eq!(sa.train.images, sb.train.images);
    assert_eq!(sa.train.labels, vec![0, 1, 2, 1, 0]);
    // The format's ten classes, not the largest label + 1.
    assert_eq!(sa.classes, 10);
    assert_eq!(
        sa.train.shape,
        data::ImageShape {
            channels: 1,
            height: 4,
            width: 3
        }
    );
    assert_eq!(sa.train.image(1), &idx_images(5, 4, 3, 1)[16 + 12..16 + 24]);
}

#[test]
fn bad_idx_files_are_named_errors() {
    let d = tmp("idx-bad");
    write_idx(&d, false, &[0, 1, 2], &[1]);
    let images = d.join("train-images-idx3-ubyte");
    let good = std::fs::read(&images).unwrap();
    std::fs::write(&images, &good[..good.len() - 5]).unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );

    let mut wrong = good.clone();
    wrong[3] = 9;
    std::fs::write(&images, &wrong).unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(
        e.contains("wrong magic number 0x00000809") && e.contains("0x00000803"),
        "{e}"
    );

    std::fs::write(&images, idx_images(4, 4, 3, 1)).unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(e.contains("3 labels") && e.contains("4 images"), "{e}");

    std::fs::remove_file(d.join("t10k-labels-idx1-ubyte")).unwrap();
    std::fs::write(&images, &good).unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(e.contains("t10k-labels-idx1-ubyte"), "{e}");
}

#[test]
fn missing_and_unrecognised_directories_are_errors() {
    let e = load(Path::new("/no/such/dir")).unwrap_err().to_string();
    assert!(
        e.starts_with("/no/such/dir: no such data directory")
            && e.contains("apt-get install dataset-fashion-mnist"),
        "{e}"
    );
    let e = load(&tmp("empty")).unwrap_err().to_string();
    assert!(e.contains("found no dataset here"), "{e}");
}

fn cifar_record(label: &[u8], fill: u8) -> Vec<u8> {
    let mut r = label.to_vec();
    r.extend((0..3072).map(|i| (i % 251) as u8 ^ fill));
    r
}

#[test]
fn cifar10_and_cifar100_batches() {
    let d = tmp("cifar10");
    let batch: Vec<u8> = [3u8, 9, 0]
        .iter()
        .flat_map(|&l| cifar_record(&[l], l))
        .collect();
    std::fs::write(d.join("data_batch_1.bin"), &batch).unwrap();
    std::fs::write(d.join("data_batch_2.bin"), cifar_record(&[5], 1)).unwrap();
    std::fs::write(d.join("test_batch.bin"), cifar_record(&[1], 2)).unwrap();
    let s = load(&d).unwrap();
    assert_eq!(s.train.labels, vec![3, 9, 0, 5]);
    assert_eq!(
        s.train.shape,
        data::ImageShape {
            channels: 3,
            height: 32,
            width: 32
        }
    );
    assert_eq!(s.train.image(1), &cifar_record(&[9], 9)[1..]);
    assert!(s.natural_images && s.description.starts_with("CIFAR-10"));

    let d = tmp("cifar100");
    std::fs::write(d.join("train.bin"), cifar_record(&[1, 42], 0)).unwrap();
    std::fs::write(d.join("test.bin"), cifar_record(&[2, 77], 0)).unwrap();
    let s = load(&d).unwrap();
    assert_eq!(
        (s.train.labels[0], s.test.labels[0], s.classes),
        (42, 77, 100)
    );

    std::fs::write(d.join("train.bin"), &cifar_record(&[1, 42], 0)[..3000]).unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(
        e.contains("train.bin") && e.contains("not a whole number of 3074-byte records"),
        "{e}"
    );
}

#[test]
fn image_folders_resize_and_stop_on_unreadable_files() {
    let d = tmp("folder");
    for (split, class, n) in [("train", "cat", 2), ("train", "dog", 1), ("test", "dog", 1)] {
        let dir = d.join(split).join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            let img = image::RgbImage::from_fn(16, 12, |x, y| {
                image::Rgb([
                    x as u8 * 10,
                    y as u8 * 10,
                    if class == "cat" { 200 } else { 20 },
                ])
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
    let s = load(&d).unwrap();
    assert_eq!(s.classes, 2);
    assert_eq!(s.train.labels, vec![0, 0, 1]);
    assert_eq!(s.test.labels, vec![1]);
    assert_eq!(
        s.train.shape,
        data::ImageShape {
            channels: 3,
            height: 8,
            width: 8
        }
    );
    // Only the file list is held; a batch decodes the images. The blue channel plane of a
    // "cat" image is constant 200.
    assert!(s.train.is_streamed() && s.train.images.is_empty());
    let mut batch = data::Batch::default();
    Batcher::new(&s.train, opts(3, false, 0), 0)
        .next_into(&mut batch)
        .unwrap();
    assert!(batch.pixels[128..192].iter().all(|&v| v == 200.0 / 255.0));

    // A file that does not decode leaves its batch; here it is 1 of 4 files, over the 1 %
    // that stops a run.
    std::fs::write(d.join("train/dog/broken.png"), b"not a png").unwrap();
    let s = load(&d).unwrap();
    let e = Batcher::new(&s.train, opts(4, false, 0), 0)
        .next_into(&mut batch)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("1 of its 4 image files do not decode") && e.contains("train"),
        "{e}"
    );
}

fn opts(batch: usize, shuffle: bool, seed: u64) -> BatchOptions {
    BatchOptions {
        batch,
        shuffle,
        seed,
        normalize: None,
        augment: false,
        cutout: false,
        imagenet: false,
    }
}

fn epoch_labels(d: &data::Dataset, o: BatchOptions, epoch: u64) -> Vec<Vec<u32>> {
    let mut b = Batcher::new(d, o, epoch);
    let mut out = Vec::new();
    let mut batch = Batch::default();
    while b.next_into(&mut batch).unwrap() {
        out.push(batch.labels.clone());
    }
    out
}

#[test]
fn batching_is_seeded_and_keeps_the_last_partial_batch() {
    let labels: Vec<u32> = (0..10).collect();
    let d = data::Dataset::new(
        Path::new("t"),
        (0..10u8).collect(),
        labels.clone(),
        data::ImageShape {
            channels: 1,
            height: 1,
            width: 1,
        },
    )
    .unwrap();
    let plain = epoch_labels(&d, opts(4, false, 1), 0);
    assert_eq!(plain, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    let a = epoch_labels(&d, opts(4, true, 1), 0);
    assert_eq!(
        a,
        epoch_labels(&d, opts(4, true, 1), 0),
        "same seed, same order"
    );
    assert_ne!(
        a,
        epoch_labels(&d, opts(4, true, 1), 1),
        "each epoch reshuffles"
    );
    assert_ne!(
        a,
        epoch_labels(&d, opts(4, true, 2), 0),
        "another seed, another order"
    );
    let mut flat: Vec<u32> = a.concat();
    flat.sort();
    assert_eq!(flat, labels);
    let mut b = Batcher::new(&d, opts(4, false, 1), 0);
    let mut batch = Batch::default();
    assert!(b.next_into(&mut batch).unwrap());
    assert_eq!(
        batch.pixels,
        vec![0.0, 1.0 / 255.0, 2.0 / 255.0, 3.0 / 255.0]
    );
}

#[test]
fn normalisation_and_augmentation() {
    let shape = data::ImageShape {
        channels: 1,
        height: 2,
        width: 3,
    };
    let d = data::Dataset::new(
        Path::new("t"),
        vec![0, 51, 102, 153, 204, 255],
        vec![0],
        shape,
    )
    .unwrap();
    let stats = data::channel_stats(&d);
    assert!((stats[0].0 - 0.5).abs() < 1e-6);
    let mut o = opts(1, false, 0);
    o.normalize = Some(stats.clone());
    let mut b = Batcher::new(&d, o, 0);
    let mut batch = Batch::default();
    b.next_into(&mut batch).unwrap();
    let mean: f32 = batch.pixels.iter().sum::<f32>() / 6.0;
    let var: f32 = batch
        .pixels
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum::<f32>()
        / 6.0;
    assert!(
        mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4,
        "mean {mean} var {var}"
    );

    // Every augmented image is one of the 9×9×2 shift-and-flip transforms of the original
    // (zero fill outside), computed here independently, and the draws vary.
    let src = [0u8, 51, 102, 153, 204, 255];
    let transform = |dy: isize, dx: isize, flip: bool| -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..2isize {
            for x in 0..3isize {
                let sx = if flip { 2 - x } else { x } + dx;
                let sy = y + dy;
                out.push(if (0..2).contains(&sy) && (0..3).contains(&sx) {
                    src[(sy * 3 + sx) as usize]
                } else {
                    0
                });
            }
        }
        out
    };
    let all: Vec<Vec<u8>> = (-4..=4)
        .flat_map(|dy| (-4..=4).flat_map(move |dx| [false, true].map(move |f| (dy, dx, f))))
        .map(|(dy, dx, f)| transform(dy, dx, f))
        .collect();
    let mut o = opts(1, false, 3);
    o.augment = true;
    let mut distinct = std::collections::HashSet::new();
    for epoch in 0..40 {
        let mut b = Batcher::new(&d, o.clone(), epoch);
        b.next_into(&mut batch).unwrap();
        let px: Vec<u8> = batch
            .pixels
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        assert!(all.contains(&px), "{px:?} is no shift/flip of the image");
        distinct.insert(px);
    }
    assert!(
        distinct.len() >= 5,
        "augmentation varies: {} distinct of 40",
        distinct.len()
    );
}

#[test]
fn labels_beyond_the_formats_classes_are_refused() {
    // An IDX label byte set to 200: Fashion-MNIST has 10 classes.
    let d = tmp("idx-bad-label");
    write_idx(&d, true, &[0, 1, 200, 1], &[2, 2]);
    let e = load(&d).unwrap_err().to_string();
    assert!(
        e.contains("train-labels-idx1-ubyte.gz")
            && e.contains("record 2")
            && e.contains("label 200")
            && e.contains("10 classes")
            && e.contains("--classes"),
        "{e}"
    );
    // --classes says the data has more.
    let s = load_with(&d, Some(201)).unwrap();
    assert_eq!(s.classes, 201);
    let e = load_with(&d, Some(1)).unwrap_err().to_string();
    assert!(e.contains("--classes 1") && e.contains("at least 2"), "{e}");

    // A CIFAR-10 test batch with a corrupt label byte (252).
    let d = tmp("cifar-bad-label");
    std::fs::write(d.join("data_batch_1.bin"), cifar_record(&[3], 0)).unwrap();
    let test: Vec<u8> = [1u8, 252]
        .iter()
        .flat_map(|&l| cifar_record(&[l], 0))
        .collect();
    std::fs::write(d.join("test_batch.bin"), test).unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(
        e.contains("test_batch.bin") && e.contains("record 1") && e.contains("label 252"),
        "{e}"
    );
    // CIFAR-100's fine labels go up to 99, not 100.
    let d = tmp("cifar100-bad-label");
    std::fs::write(d.join("train.bin"), cifar_record(&[1, 99], 0)).unwrap();
    std::fs::write(d.join("test.bin"), cifar_record(&[2, 100], 0)).unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(e.contains("test.bin") && e.contains("100 classes"), "{e}");
}

/// Cutout zeroes a 16×16 square (clipped at the border) in every channel of about half the
/// images, after normalisation, where the drawn list says; a rank rebuilding the batch from
/// that list gets the same pixels.
#[test]
fn cutout_zeroes_the_drawn_square_in_about_half_the_images() {
    let shape = data::ImageShape {
        channels: 3,
        height: 12,
        width: 20,
    };
    let n = 400;
    let d = data::Dataset::new(
        Path::new("t"),
        vec![255; n * shape.len()],
        vec![0; n],
        shape,
    )
    .unwrap();
    let o = BatchOptions {
        cutout: true,
        normalize: Some(vec![(0.5, 0.5); 3]),
        ..opts(n, false, 3)
    };
    let mut batch = Batch::default();
    assert!(
        Batcher::new(&d, o.clone(), 0)
            .next_into(&mut batch)
            .unwrap()
    );
    let mut cut = 0;
    for (i, drawn) in batch.drawn.iter().enumerate() {
        let img = &batch.pixels[i * shape.len()..(i + 1) * shape.len()];
        let zeros = img.iter().filter(|&&v| v == 0.0).count();
        let Some((top, left)) = drawn.cutout else {
            assert!(
                img.iter().all(|&v| v == 1.0),
                "image {i}: normalised 255 is 1"
            );
            continue;
        };
        cut += 1;
        let inside = |a: i16, side: usize| a.max(0) as usize..((a + 16).max(0) as usize).min(side);
        let (rows, cols) = (inside(top, 12), inside(left, 20));
        assert!(rows.len() >= 8 && cols.len() >= 8, "{drawn:?}");
        assert_eq!(zeros, 3 * rows.len() * cols.len(), "image {i}: {drawn:?}");
        for y in rows {
            for x in cols.clone() {
                assert_eq!(img[(2 * 12 + y) * 20 + x], 0.0);
            }
        }
    }
    assert!((160..240).contains(&cut), "{cut} of {n} images cut");
    let rebuilt = Batcher::rebuild(&d, &o, batch.drawn.clone()).unwrap();
    assert!(rebuilt.pixels == batch.pixels);
    let mut far = batch.drawn.clone();
    far[0].cutout = Some((12, 0));
    let e = Batcher::rebuild(&d, &o, far).unwrap_err().to_string();
    assert!(e.contains("cutout square at (12, 0)"), "{e}");
}

/// Symmetric label noise: each label replaced, with probability `rate`, by a uniform class,
/// so about rate·(K−1)/K of the labels change, spread evenly over the other classes; seeded.
#[test]
fn label_noise_is_symmetric_and_seeded() {
    let mut labels = vec![3u32; 20_000];
    sampa::run::add_label_noise(&mut labels, 10, (0.4, 7));
    let changed = labels.iter().filter(|&&l| l != 3).count() as f64 / 20_000.0;
    assert!((changed - 0.36).abs() < 0.015, "{changed}");
    for c in (0..10).filter(|&c| c != 3) {
        let share = labels.iter().filter(|&&l| l == c).count() as f64 / 20_000.0;
        assert!((share - 0.04).abs() < 0.006, "class {c}: {share}");
    }
    let mut again = vec![3u32; 20_000];
    sampa::run::add_label_noise(&mut again, 10, (0.4, 7));
    assert_eq!(labels, again);
    let mut other = vec![3u32; 20_000];
    sampa::run::add_label_noise(&mut other, 10, (0.4, 8));
    assert_ne!(labels, other);
}

/// A gzipped IDX image file whose header announces 10 images of 28×28 but which inflates to
/// 1 GiB: refused, naming the file, with the process's peak memory far below the 1 GiB
/// (inflation stops where the header says the data ends).
#[test]
fn a_gzip_file_inflating_beyond_its_header_is_refused_with_small_peak_memory() {
    let d = tmp("gzip-bomb");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    write_idx(&d, true, &[1, 2, 3], &[4, 5]);
    let bomb = d.join("train-images-idx3-ubyte.gz");
    let file = std::fs::File::create(&bomb).unwrap();
    let mut e = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut header = vec![0, 0, 8, 3];
    for dim in [10u32, 28, 28] {
        header.extend(dim.to_be_bytes());
    }
    e.write_all(&header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap();
    assert!(
        std::fs::metadata(&bomb).unwrap().len() < 8 << 20,
        "a small file"
    );
    let out = d.join("run");
    let args = [
        "train",
        "--data",
        d.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let (o, peak_mib) = common::cli::sampa_peak(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        stderr.contains("train-images-idx3-ubyte.gz")
            && stderr.contains("decompresses to more than the 7856 bytes its header announces"),
        "{stderr}"
    );
    eprintln!("peak resident memory of the refused run: {peak_mib:.1} MiB");
    assert!(peak_mib < 100.0, "peak memory {peak_mib:.1} MiB");
}
