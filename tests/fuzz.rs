#![cfg(not(target_arch = "wasm32"))]
//! Every parser and loader, fuzzed with property tests: arbitrary bytes, and valid inputs with
//! bytes flipped, cut or inserted. The property is the same for each: an error or a value,
//! never a panic, an abort or an allocation the input did not pay for; and for the server,
//! never a byte of a file outside its root.
//!
//! `SAMPA_FUZZ_CASES` sets the cases per parser (10,000 by default, what CI runs). The
//! cargo-fuzz targets in `fuzz/` call the same entry points for longer, coverage-guided runs.

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sampa::data::{cifar, decode, idx};
use sampa::nn::Model;
use sampa::run::checkpoint::{self, Origin, Progress};
use sampa::run::{RunDir, TrainConfig};
use sampa::train::TrainerState;
use std::io::{Read, Write};
use std::path::Path;

fn cases() -> u32 {
    std::env::var("SAMPA_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

/// Run `check` on `cases()` inputs from `strategy`, reporting the count.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let n = cases();
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |v| {
            check(v);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!("{name}: {n} cases, no crash");
}

/// `valid` with a few edits: bytes flipped, the tail cut, or junk inserted.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    let edits = prop::collection::vec((0..len.max(1), any::<u8>(), 0..3u8), 1..6);
    edits.prop_map(move |edits| {
        let mut v = valid.clone();
        for (at, byte, kind) in edits {
            let at = at.min(v.len().saturating_sub(1));
            match kind {
                0 if !v.is_empty() => v[at] ^= byte | 1,
                1 => v.truncate(at),
                _ => v.insert(at.min(v.len()), byte),
            }
        }
        v
    })
}

/// Arbitrary bytes, or `valid` mutated.
fn bytes_like(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..64), mutated(valid)]
}

fn gz(raw: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(raw).unwrap();
    e.finish().unwrap()
}

fn idx_file(magic: u32, dims: &[u32], body: usize) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend((0..body).map(|i| (i % 10) as u8));
    v
}

#[test]
fn idx_raw_and_gzipped() {
    let images = idx_file(0x0803, &[3, 2, 2], 12);
    let labels = idx_file(0x0801, &[3], 3);
    let (ip, lp) = (Path::new("i-idx3-ubyte"), Path::new("l-idx1-ubyte"));
    let input = (
        bytes_like(images.clone()),
        bytes_like(labels.clone()),
        any::<bool>(),
        1..12usize,
    );
    fuzz("IDX", input, |(i, l, zipped, classes)| {
        let (i, l) = if zipped { (gz(&i), gz(&l)) } else { (i, l) };
        if let Ok(d) = idx::parse_split((ip, &i), (lp, &l), classes) {
            assert_eq!(d.images.len(), d.len() * d.shape.len());
            assert!(d.labels.iter().all(|&c| (c as usize) < classes));
        }
    });
    // And gzip streams themselves corrupted.
    let zipped = gz(&images);
    fuzz("IDX gzip", mutated(zipped), |i| {
        let _ = idx::parse_split((ip, &i), (lp, &labels), 10);
    });
}

#[test]
fn cifar_records() {
    let record: Vec<u8> = (0..3074u32).map(|i| (i % 7) as u8).collect();
    let input = (bytes_like(record), 1..3usize, 1..120usize);
    fuzz("CIFAR", input, |(bytes, label_bytes, classes)| {
        let p = Path::new("data_batch_1.bin");
        if let Ok(d) = cifar::parse_records(p, &bytes, label_bytes, ("CIFAR", classes)) {
            assert_eq!(d.images.len(), d.len() * 3072);
        }
    });
}

#[test]
fn mpi_messages() {
    // What a rank receives from another: a job (both batch forms) and a reply.
    use sampa::data::{Batch, Drawn};
    use sampa::train::schedule::transport::{Job, Reply};
    use sampa::train::schedule::wire;
    let drawn = Batch {
        drawn: vec![
            Drawn {
                index: 3,
                shift: (2, -1),
                flip: true,
                cutout: Some((-3, 5)),
                crop: 77,
            };
            3
        ],
        ..Batch::default()
    };
    let pixels = Batch {
        pixels: vec![0.5; 8],
        labels: vec![1, 2],
        drawn: Vec::new(),
    };
    for batch in [drawn, pixels] {
        let job = wire::encode_job(&Job {
            step: 4,
            point: vec![1.0; 5],
            batch,
            dropout_key: 9,
            group: Some(2),
            sync_share: Some(0.5),
        });
        fuzz("MPI job", mutated(job), |b| {
            if let Ok(j) = wire::decode_job(&b) {
                assert!(j.point.len() <= b.len() / 4);
            }
        });
    }
    let reply = wire::encode_reply(&Reply {
        grad: vec![2.0; 6],
        metrics: [1.0, 3.0],
        state: vec![],
    });
    fuzz("MPI reply", mutated(reply), |b| {
        let _ = wire::decode_reply(&b);
    });
}

/// A small image in `format`, encoded.
fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(5, 4, |x, y| image::Rgb([x as u8 * 40, y as u8 * 60, 7]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn image_folder_files() {
    use image::ImageFormat::{Bmp, Gif, Jpeg, Png};
    let input = prop_oneof![
        bytes_like(encoded(Png)),
        mutated(encoded(Jpeg)),
        mutated(encoded(Gif)),
        mutated(encoded(Bmp)),
    ];
    fuzz("image files", (input, 1..9usize), |(bytes, size)| {
        if let Ok(px) = decode::decode_image(Path::new("train/cat/0.png"), &bytes, size) {
            assert_eq!(px.len(), 3 * size * size);
        }
    });
}

fn model() -> Model {
    Model::mlp(4, &[3], 2).unwrap()
}

#[test]
fn safetensors_through_init() {
    let m = model();
    let f = std::env::temp_dir().join(format!("sampa-fuzz-init-{}", std::process::id()));
    common::save_plain(&m, &m.init(0), &f);
    let valid = std::fs::read(&f).unwrap();
    let _ = std::fs::remove_file(&f);
    fuzz("safetensors (--init)", bytes_like(valid), |bytes| {
        if let Ok(x) = checkpoint::load_bytes(&m, Path::new("init.safetensors"), &bytes) {
            assert_eq!(x.len(), m.param_count());
            assert!(x.iter().all(|v| v.is_finite()));
        }
    });
}

#[test]
fn checkpoints_through_resume() {
    let m = model();
    let n = m.param_count();
    let state = TrainerState {
        x: m.init(1),
        base_state: vec![(sampa::optim::program::Vector::Momentum, vec![0.5; n])],
        carried: vec![vec![0.25; n]],
        model_state: Vec::new(),
        steps: 7,
        previous: None,
        noise_rng: (1, 2),
        aesam: Some(sampa::optim::aesam::AeSamState {
            mean: 0.1,
            var: 1.0 / 3.0,
            steps: 7,
            sam_steps: 3,
        }),
    };
    let progress = Progress {
        epoch: 1,
        position: 32,
        order: (0..64).collect(),
        augment_rng: (3, 4),
        loss_sum: 1.5,
        correct: 20,
        seen: 32,
        seconds: 0.5,
    };
    let origin = Origin {
        config: "{}".into(),
        data: "fingerprint".into(),
    };
    let f = std::env::temp_dir().join(format!("sampa-fuzz-ckpt-{}", std::process::id()));
    checkpoint::save_checkpoint(&m, (&state, &progress), &origin, &f).unwrap();
    let valid = std::fs::read(&f).unwrap();
    let _ = std::fs::remove_file(&f);
    let (back, _, _) = checkpoint::load_checkpoint_bytes(&m, &f, &valid).unwrap();
    assert_eq!(back, state);
    fuzz("checkpoint (--resume)", mutated(valid.clone()), |bytes| {
        let got =
            checkpoint::load_checkpoint_bytes(&m, Path::new("checkpoint.safetensors"), &bytes);
        // Any change the checksum covers is caught; what passes is the original.
        if let Ok((s, p, o)) = got {
            assert_eq!((s, p, o), (state.clone(), progress.clone(), origin.clone()));
        }
    });
}

/// `sampa train`'s defaults as config.json holds them.
fn config_json() -> String {
    #[derive(clap::Parser)]
    struct Args {
        #[command(flatten)]
        config: TrainConfig,
    }
    let c = <Args as clap::Parser>::parse_from(["train", "--data", "embedded"]).config;
    serde_json::to_string_pretty(&c).unwrap()
}

/// A JSON value of any kind, small.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
        prop::collection::vec(any::<u16>(), 0..4).prop_map(Value::from),
    ]
}

#[test]
fn config_json_files() {
    let valid = config_json();
    let parsed: serde_json::Value = serde_json::from_str(&valid).unwrap();
    let keys: Vec<String> = parsed.as_object().unwrap().keys().cloned().collect();
    let field_swap = (0..keys.len(), json_value()).prop_map(move |(k, v)| {
        let mut c = parsed.clone();
        c[&keys[k]] = v;
        c.to_string().into_bytes()
    });
    let input = prop_oneof![bytes_like(valid.clone().into_bytes()), field_swap];
    let recorded: serde_json::Value = serde_json::from_str(&valid).unwrap();
    fuzz("config.json", input, |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(c) = RunDir::parse_config(Path::new("config.json"), &text) {
            let _ = c.validate();
            let _ = c.differs_from(&recorded);
        }
    });
}

#[test]
fn tuning_and_schedule_caches() {
    let tuning = r#"{"Vulkan llvmpipe": {"variant": "reg", "gflops": {"reg": 12.5}, "workload": "w", "vectors": "storage"}}"#;
    let schedules =
        r#"{"Vulkan llvmpipe | mlp | batch 128 | serial, interleaved, fused": "fused"}"#;
    let input = prop_oneof![
        bytes_like(tuning.as_bytes().to_vec()),
        bytes_like(schedules.as_bytes().to_vec())
    ];
    fuzz("tuning and schedule caches", input, |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        for c in sampa::tuning::parse_cache(&text).values() {
            let _ = sampa::tuning::entry_forms(c);
        }
        for name in sampa::run::placement::parse_cache(&text).values() {
            let _ = sampa::run::placement::placement(name);
        }
    });
}

/// A request line and headers of the kinds that reach a file server: methods, paths with
/// dots, slashes, percent-escapes and control bytes, header junk, or bytes of any kind.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "OPTIONS", "G\0T", ""]);
    let segment = prop::sample::select(vec![
        "..",
        ".",
        "%2e%2e",
        "%2E.",
        "%2f",
        "%5c",
        "secret.txt",
        "a.txt",
        "link",
        "%00",
        "%ff",
        "",
        "sub",
        "\\..",
        "%252e%252e",
        "index.html",
        "//",
    ]);
    let path = prop::collection::vec(segment, 0..6).prop_map(|s| format!("/{}", s.join("/")));
    let junk = prop::collection::vec(any::<u8>(), 0..40);
    let structured = (
        method,
        path,
        prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/9", ""]),
        junk.clone(),
    )
        .prop_map(|(m, p, v, j)| {
            let mut r = format!("{m} {p} {v}\r\nHost: x\r\n").into_bytes();
            r.extend(j);
            r.extend(b"\r\n\r\n");
            r
        });
    prop_oneof![structured, junk]
}

#[test]
fn server_request_handling() {
    use std::net::{Shutdown, TcpListener, TcpStream};
    let d = std::env::temp_dir().join(format!("sampa-fuzz-serve-{}", std::process::id()));
    let root = d.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("a.txt"), "public").unwrap();
    std::fs::write(root.join("sub/a.txt"), "public").unwrap();
    let secret = "SECRET-0f9e8d";
    std::fs::write(d.join("secret.txt"), secret).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.join("secret.txt"), root.join("link")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = root.clone();
    std::thread::spawn(move || sampa::serve::serve(served, listener));
    fuzz("server requests", request(), |req| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        // A peer that stops writing: the server must answer or close, not wait.
        let _ = s.write_all(&req).and_then(|_| s.shutdown(Shutdown::Write));
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        assert!(answer.is_empty() || text.starts_with("HTTP/1."), "{text}");
        assert!(
            !text.contains(secret),
            "served a file outside the root: {text}"
        );
    });
    let _ = std::fs::remove_dir_all(&d);
}
