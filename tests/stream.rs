#![cfg(not(target_arch = "wasm32"))]
//! Image folders read as batches need them: the same batches as decoding every image first,
//! torchvision's RandomResizedCrop parameters, files that do not decode left out (and too
//! many stopping the run), and memory that holds the file list only.

mod common;

use common::cli::{error_line, sampa, sampa_peak, success};
use sampa::data::stream::resized_crop_box;
use sampa::data::{self, Batch, BatchOptions, Batcher, Dataset, LoadOptions, Source};
use sampa::rng::Pcg;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sampa-stream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `per_class` images of three classes in `train/` and a third as many in `val/`, of
/// assorted sizes, every other one JPEG, the rest PNG.
fn write_folders(d: &Path, per_class: usize) {
    let mut rng = Pcg::new(per_class as u64, 1);
    for (split, n) in [("train", per_class), ("val", per_class.div_ceil(3))] {
        for class in ["ant", "bee", "cow"] {
            let dir = d.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let (w, h) = (12 + rng.below(30), 12 + rng.below(30));
                let tint = rng.below(256) as u8;
                let img = image::RgbImage::from_fn(w, h, |x, y| {
                    image::Rgb([(x * 7) as u8, (y * 5) as u8 ^ tint, (x * y) as u8])
                });
                let ext = if i % 2 == 0 { "jpg" } else { "png" };
                img.save(dir.join(format!("{i:03}.{ext}"))).unwrap();
            }
        }
    }
}

fn load(d: &Path, imagenet: bool) -> data::Splits {
    let opts = LoadOptions {
        image_size: Some(16),
        folder_size: 16,
        classes: None,
        imagenet,
        workers: 3,
    };
    data::load(&Source::Dir(d.to_path_buf()), opts).unwrap()
}

/// The streamed split decoded whole, image by image, into memory: what image folders were.
fn decoded_first(split: &Path, streamed: &Dataset) -> Dataset {
    let files = streamed.files.as_ref().unwrap();
    let mut images = Vec::new();
    for p in &files.paths {
        let path = split.join(p);
        let bytes = std::fs::read(&path).unwrap();
        images.extend(data::decode::decode_image(&path, &bytes, 16).unwrap());
    }
    Dataset::new(split, images, streamed.labels.clone(), streamed.shape).unwrap()
}

fn options(augment: bool) -> BatchOptions {
    BatchOptions {
        batch: 32,
        shuffle: true,
        seed: 7,
        normalize: Some(vec![(0.5, 0.25); 3]),
        augment,
        cutout: augment,
        imagenet: false,
    }
}

fn epoch(data: &Dataset, opts: &BatchOptions, e: u64) -> Vec<Batch> {
    let mut b = Batcher::new(data, opts.clone(), e);
    let mut out = Vec::new();
    let mut batch = Batch::default();
    while b.next_into(&mut batch).unwrap() {
        out.push(batch.clone());
    }
    out
}

#[test]
fn streamed_folders_give_the_batches_of_decoding_every_image_first() {
    let d = tmp("same");
    write_folders(&d, 70);
    let s = load(&d, false);
    assert_eq!((s.train.len(), s.test.len(), s.classes), (210, 72, 3));
    let whole = decoded_first(&d.join("train"), &s.train);
    for augment in [false, true] {
        let opts = options(augment);
        for e in 0..2 {
            let (streamed, held) = (epoch(&s.train, &opts, e), epoch(&whole, &opts, e));
            assert_eq!(streamed.len(), 7);
            assert!(streamed == held, "epoch {e}, augment {augment}");
        }
    }
    // The test split is val/, and a validation split of streamed data streams too.
    let test = decoded_first(&d.join("val"), &s.test);
    let eval = BatchOptions {
        shuffle: false,
        ..options(false)
    };
    assert!(epoch(&s.test, &eval, 0) == epoch(&test, &eval, 0));
    let picked = s.train.select(&[5, 1, 200]);
    assert!(picked.is_streamed() && picked.labels == [0, 0, 2]);
}

/// `sampa bench data` decoding 8 batches of 16 at 128×128 from folders of 150 and of 900 small
/// images: decoded whole, the 900 would take 37 MB (3 × 128 × 128 bytes each) more than the
/// 150; streamed, the process's peak memory is the same within a few MiB.
#[test]
fn memory_stays_flat_with_the_number_of_images() {
    let peak = |per_class: usize| {
        let d = tmp(&format!("flat-{per_class}"));
        write_folders(&d, per_class);
        let dir = d.to_str().unwrap();
        let args = ["bench", "data", "--data", dir, "--image-size", "128"];
        let more = ["--batch", "16", "--batches", "8", "--workers", "2"];
        let (out, mib) = sampa_peak(&[&args[..], &more].concat());
        let stdout = success(&out);
        // 128 images decoded (8 batches of 16) in both.
        assert!(stdout.contains("     128 "), "{stdout}");
        mib
    };
    let (few, many) = (peak(50), peak(300));
    eprintln!("peak memory: {few:.1} MiB with 150 images, {many:.1} MiB with 900");
    assert!(many - few < 8.0, "{few:.1} MiB then {many:.1} MiB");
}

/// torchvision's `RandomResizedCrop(scale=(0.08, 1), ratio=(3/4, 4/3))` on a square image:
/// a try draws the area fraction s uniformly and log r uniformly and keeps the crop when it
/// fits, s ≤ min(r, 1/r); ten tries fail with probability 0.142^10. So the crops' (s, |log r|)
/// are uniform on {0.08 ≤ s ≤ e^−u, 0 ≤ u ≤ a}, a = log 4/3: P(s ≤ 1/2) = a·0.42/Z with
/// Z = 0.67·a + ∫ from 3/4 to 1 of −ln s ds, and P(|log r| ≤ a/2) = ∫₀^{a/2} (e^−u − 0.08) du
/// over the same integral to a.
#[test]
fn random_resized_crops_follow_torchvisions_distribution() {
    let (h, w) = (1000, 1000);
    let n = 20000;
    let a = (4.0f64 / 3.0).ln();
    let tail = 1.0 - (0.75 - 0.75 * 0.75f64.ln());
    let z = 0.67 * a + tail;
    let p_half = a * 0.42 / z;
    let g = |u: f64| 1.0 - (-u).exp() - 0.08 * u;
    let p_ratio = g(a / 2.0) / g(a);
    let (mut below_half, mut near, mut top, mut log_sum) = (0, 0, 0.0, 0.0);
    for seed in 1..=n {
        let (t, l, ch, cw) = resized_crop_box((h, w), seed as u64 * 2 + 1);
        assert!(t + ch <= h && l + cw <= w && ch > 0 && cw > 0);
        let s = (ch * cw) as f64 / (h * w) as f64;
        let r = (cw as f64 / ch as f64).ln();
        below_half += (s <= 0.5) as usize;
        near += (r.abs() <= a / 2.0) as usize;
        log_sum += r;
        if ch < h {
            top += t as f64 / (h - ch) as f64;
        }
    }
    let frac = |k: usize| k as f64 / n as f64;
    // Four standard errors of a proportion near 1/2 over 20,000 draws: 0.014.
    assert!(
        (frac(below_half) - p_half).abs() < 0.014,
        "{} vs {p_half}",
        frac(below_half)
    );
    assert!(
        (frac(near) - p_ratio).abs() < 0.014,
        "{} vs {p_ratio}",
        frac(near)
    );
    assert!(
        (log_sum / n as f64).abs() < 0.004,
        "mean log ratio {}",
        log_sum / n as f64
    );
    assert!(
        (top / n as f64 - 0.5).abs() < 0.01,
        "top offset {}",
        top / n as f64
    );
    // An image too elongated for any try falls back to the centre crop at the ratio's bound.
    assert_eq!(resized_crop_box((10, 1000), 3), (0, 493, 10, 13));
}

/// With `--augment imagenet`, training batches hold random resized crops (different each
/// epoch, repeatable by seed), evaluation the centre crop of the short side resized.
#[test]
fn imagenet_sizing_crops_in_training_and_centres_in_evaluation() {
    let d = tmp("imagenet");
    write_folders(&d, 10);
    let s = load(&d, true);
    let train = BatchOptions {
        imagenet: true,
        normalize: Some(data::IMAGENET_STATS.to_vec()),
        ..options(false)
    };
    let (a, b, again) = (
        epoch(&s.train, &train, 0),
        epoch(&s.train, &train, 1),
        epoch(&s.train, &train, 0),
    );
    assert!(a == again && a != b);
    assert!(a[0].drawn.iter().all(|d| d.crop != 0));
    // Rebuilt from its drawn list alone, as another rank does.
    let rebuilt = Batcher::rebuild(&s.train, &train, a[0].drawn.clone()).unwrap();
    assert!(rebuilt == a[0]);
    // Evaluation: a 24×36 image (short side 24) resized to 18×27, then its centre 16×16.
    let dir = d.join("centre/train/x");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(d.join("centre/val/x")).unwrap();
    let img = image::RgbImage::from_fn(36, 24, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 9) as u8, 50])
    });
    for split in ["train", "val"] {
        img.save(d.join(format!("centre/{split}/x/0.png"))).unwrap();
    }
    let c = load(&d.join("centre"), true);
    let eval = BatchOptions {
        shuffle: false,
        normalize: None,
        ..options(false)
    };
    let got = &epoch(&c.test, &eval, 0)[0].pixels;
    let planes: Vec<u8> = (0..3)
        .flat_map(|ch| img.pixels().map(move |p| p.0[ch]))
        .collect();
    let resized = data::resample::bilinear_u8(&planes, 3, (24, 36), (18, 27));
    let (top, left) = (1, 6); // round((18 - 16) / 2), round((27 - 16) / 2) = round(5.5)
    for ch in 0..3 {
        for y in 0..16 {
            for x in 0..16 {
                let want = resized[(ch * 18 + top + y) * 27 + left + x] as f32 / 255.0;
                assert_eq!(got[(ch * 16 + y) * 16 + x], want, "({ch}, {y}, {x})");
            }
        }
    }
}

/// A file that does not decode is left out of its batch with a warning; more than 1 % of a
/// split's files failing stops the run, naming the split.
#[test]
fn files_that_do_not_decode_leave_their_batch_until_they_are_too_many() {
    let d = tmp("broken");
    write_folders(&d, 40);
    std::fs::write(d.join("train/bee/broken.jpg"), b"not a jpeg").unwrap();
    let s = load(&d, false);
    assert_eq!(s.train.len(), 121);
    let opts = options(false);
    let seen: usize = epoch(&s.train, &opts, 0).iter().map(Batch::len).sum();
    assert_eq!(seen, 120);
    for i in 0..2 {
        std::fs::write(d.join(format!("train/cow/broken{i}.png")), b"nope").unwrap();
    }
    let s = load(&d, false);
    let mut b = Batcher::new(&s.train, opts, 0);
    let mut batch = Batch::default();
    let e = loop {
        match b.next_into(&mut batch) {
            Ok(true) => continue,
            Ok(false) => panic!("3 of 123 files failing must stop the epoch"),
            Err(e) => break e.to_string(),
        }
    };
    // The second failure is the one past 1 % of 123.
    assert!(
        e.contains("2 of its 123 image files do not decode, more than 1 %"),
        "{e}"
    );
}

/// `sampa train --augment imagenet` on an image folder writes a model file that records the
/// sizing, so `sampa eval` crops the test images as training evaluated them and reports the
/// same accuracy; on other data the flag is an error that says what it applies to.
#[test]
fn a_run_with_imagenet_augmentation_evaluates_the_same_from_its_file() {
    let d = tmp("cli");
    write_folders(&d, 12);
    let out = d.join("run");
    let run = [
        "train",
        "--model",
        "cnn",
        "--data",
        d.to_str().unwrap(),
        "--image-size",
        "16",
        "--augment",
        "imagenet",
        "--batch",
        "8",
        "--epochs",
        "1",
        "--workers",
        "2",
        "--out",
        out.to_str().unwrap(),
    ];
    let stdout = success(&sampa(&run));
    let line = stdout.lines().rfind(|l| l.starts_with("epoch")).unwrap();
    let at = line.find("test acc").unwrap() + "test acc".len();
    let acc = line[at..].split_whitespace().next().unwrap();
    let model = out.join("model.safetensors");
    let eval = success(&sampa(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        d.to_str().unwrap(),
    ]));
    assert!(
        eval.contains(&format!("accuracy {acc}")),
        "train {acc}, eval: {eval}"
    );
    let other = d.join("other");
    let line = error_line(&sampa(&[
        "train",
        "--augment",
        "imagenet",
        "--data",
        "embedded",
        "--steps",
        "1",
        "--out",
        other.to_str().unwrap(),
    ]));
    assert!(
        line.contains("--augment imagenet") && line.contains("image folders"),
        "{line}"
    );
}
