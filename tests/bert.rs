#![cfg(not(target_arch = "wasm32"))]
//! BERT encoders: their layout and initialisation against Hugging Face's
//! `BertForSequenceClassification`, the whole network's f64 gradient against central
//! differences (the padding mask included), the GPU evaluator against the f64 reference on
//! every adapter, and padding that changes nothing.

mod common;

use common::cli::{error_line, sampa, scratch, success, usage_error};
use common::{
    assert_close, central_difference, check_evaluator_at, gpus, kernels, placements, trainer,
    worst_tensor,
};
use sampa::data::Batch;
use sampa::kernels::adam::AdamHyper;
use sampa::kernels::mse;
use sampa::nn::berts::{BertSpec, TextInput};
use sampa::nn::evaluator::Evaluator;
use sampa::nn::{Model, reference};
use sampa::optim::reference::RefOptimizer;
use sampa::optim::{BaseKind, OptimizerConfig, OptimizerKind};
use sampa::rng::Pcg;
use std::path::Path;

const INPUT: TextInput = TextInput {
    vocab: 40,
    positions: 16,
    tokens: 8,
    pad: 0,
};

fn bert(kind: &str, input: TextInput, classes: usize) -> Model {
    Model::bert(BertSpec::named(kind).unwrap(), input, classes).unwrap()
}

/// Hugging Face's `state_dict` keys of a `BertForSequenceClassification` with `layers`
/// encoder layers, in its order.
fn hugging_face_names(layers: usize) -> Vec<String> {
    let mut v: Vec<String> = [
        "bert.embeddings.word_embeddings.weight",
        "bert.embeddings.position_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight",
        "bert.embeddings.LayerNorm.weight",
        "bert.embeddings.LayerNorm.bias",
    ]
    .map(String::from)
    .into();
    for i in 0..layers {
        for part in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        ] {
            v.push(format!("bert.encoder.layer.{i}.{part}.weight"));
            v.push(format!("bert.encoder.layer.{i}.{part}.bias"));
        }
    }
    v.extend(
        [
            "bert.pooler.dense.weight",
            "bert.pooler.dense.bias",
            "classifier.weight",
            "classifier.bias",
        ]
        .map(String::from),
    );
    v
}

/// A text batch of `n` examples for `input`: random ids, sentence A then B, the first example
/// without padding and the others padded after 2 to `tokens` real tokens.
fn text_batch(rng: &mut Pcg, input: TextInput, n: usize, classes: usize) -> Batch {
    let t = input.tokens;
    let mut pixels = Vec::with_capacity(n * 3 * t);
    for b in 0..n {
        let len = if b == 0 {
            t
        } else {
            2 + rng.below(t as u32 - 2) as usize
        };
        pixels.extend((0..t).map(|j| {
            if j < len {
                (1 + rng.below(input.vocab as u32 - 1)) as f32
            } else {
                input.pad as f32
            }
        }));
        pixels.extend((0..t).map(|j| (j >= len / 2 && j < len) as u32 as f32));
        pixels.extend((0..t).map(|j| (j < len) as u32 as f32));
    }
    Batch {
        pixels,
        labels: (0..n).map(|_| rng.below(classes as u32)).collect(),
        drawn: Vec::new(),
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

#[test]
fn bert_layout_and_initialisation_follow_hugging_face() {
    let m = bert("bert-2-64-4", INPUT, 3);
    let names: Vec<String> = m.params.iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, hugging_face_names(2), "state_dict order");
    // BertForSequenceClassification(BertConfig(vocab_size=40, hidden_size=64,
    // num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
    // max_position_embeddings=16, num_labels=3)) counts: embeddings (40 + 16 + 2)·64 + 128,
    // per layer 4·(64·64 + 64) + 128 + (64·256 + 256) + (256·64 + 64) + 128, pooler
    // 64·64 + 64, classifier 64·3 + 3.
    let per_layer = 4 * 4160 + 128 + 16_640 + 16_448 + 128;
    assert_eq!(m.param_count(), 58 * 64 + 128 + 2 * per_layer + 4160 + 195);
    let shape = |n: &str| m.params.iter().find(|p| p.name == n).unwrap().shape.clone();
    assert_eq!(shape("bert.embeddings.word_embeddings.weight"), [40, 64]);
    assert_eq!(
        shape("bert.embeddings.token_type_embeddings.weight"),
        [2, 64]
    );
    assert_eq!(
        shape("bert.encoder.layer.1.intermediate.dense.weight"),
        [256, 64]
    );
    assert_eq!(shape("bert.encoder.layer.1.output.dense.weight"), [64, 256]);
    assert_eq!(shape("classifier.weight"), [3, 64]);
    // _init_weights: weights normal(0, 0.02), [PAD]'s word row 0, biases 0, LayerNorms 1, 0.
    let input = TextInput { pad: 5, ..INPUT };
    let m = bert("bert-2-64-4", input, 3);
    let x = m.init(7);
    for p in &m.params {
        let v = &x[p.offset..p.offset + p.len()];
        let norm = p.name.contains("LayerNorm");
        if norm && p.name.ends_with("weight") {
            assert!(v.iter().all(|&a| a == 1.0), "{}", p.name);
        } else if p.name.ends_with("bias") {
            assert!(v.iter().all(|&a| a == 0.0), "{}", p.name);
        } else {
            let mut v = v.to_vec();
            if p.name.ends_with("word_embeddings.weight") {
                assert!(v[5 * 64..6 * 64].iter().all(|&a| a == 0.0), "[PAD] row");
                v.drain(5 * 64..6 * 64);
            }
            // A sample standard deviation of n normal values lies within 4/√(2n) of σ
            // (relative) but once in 30 000 draws.
            let n = v.len() as f64;
            let std = (v.iter().map(|&a| (a as f64).powi(2)).sum::<f64>() / n).sqrt();
            let spread = 4.0 / (2.0 * n).sqrt();
            assert!((std / 0.02 - 1.0).abs() < spread, "{}: std {std}", p.name);
        }
    }
}

#[test]
fn bert_names_and_sizes_are_checked() {
    for (kind, want) in [
        ("bert-tiny", (2, 128, 2)),
        ("bert-mini", (4, 256, 4)),
        ("bert-small", (4, 512, 8)),
        ("bert-medium", (8, 512, 8)),
        ("bert-base", (12, 768, 12)),
        ("bert-2-64-4", (2, 64, 4)),
    ] {
        let s = BertSpec::named(kind).unwrap();
        assert_eq!((s.layers, s.width, s.heads), want, "{kind}");
    }
    for (kind, says) in [
        ("bert-2-64", "expected bert-LAYERS-WIDTH-HEADS"),
        ("bert-2-64-x", "expected bert-LAYERS-WIDTH-HEADS"),
        ("bert-2-64-5", "5 heads do not divide the width 64"),
        ("bert-0-64-4", "must be positive"),
    ] {
        let err = BertSpec::named(kind).unwrap_err().to_string();
        assert!(err.contains(says), "{kind}: {err}");
    }
    let spec = BertSpec::named("bert-2-64-4").unwrap();
    let long = TextInput {
        tokens: 17,
        ..INPUT
    };
    let err = Model::bert(spec, long, 2).unwrap_err().to_string();
    assert!(
        err.contains("--max-len 17") && err.contains("16 positions"),
        "{err}"
    );
}

#[test]
fn bert_gradient_matches_central_differences_on_sampled_coordinates() {
    let model = bert("bert-2-64-4", INPUT, 3);
    let mut rng = Pcg::new(38, 0);
    // Larger weights than Hugging Face's start, so every part's gradient is well above
    // rounding.
    let params: Vec<f64> = model
        .init(5)
        .iter()
        .map(|&v| v as f64 * 4.0 + 0.01 * rng.normal() as f64)
        .collect();
    let batch = text_batch(&mut rng, INPUT, 3, 3);
    let inputs = f64s(&batch.pixels);
    let loss = |p: &[f64]| reference::evaluate(&model, p, &inputs, &batch.labels, 0.1).loss;
    let eval = reference::evaluate(&model, &params, &inputs, &batch.labels, 0.1);
    // Coordinates of every tensor, among them the word rows of used ids, padded positions'
    // rows, and token type 1's.
    let used = inputs[1] as usize;
    let mut worst = 0.0f64;
    let h = 1e-5;
    for p in &model.params {
        let mut at: Vec<usize> = (0..3).map(|j| (j * 7919 + 13) % p.len()).collect();
        if p.name.ends_with("word_embeddings.weight") {
            at.push(used * 64 + 3);
        }
        if p.name.ends_with("token_type_embeddings.weight") {
            at.push(64 + 5);
        }
        for i in at.into_iter().map(|j| p.offset + j) {
            let (num, err) = central_difference(loss, &params, (i, h), eval.grad[i]);
            assert!(
                err < 1e-4,
                "{} [{}]: {} against {num}",
                p.name,
                i - p.offset,
                eval.grad[i]
            );
            worst = worst.max(err);
        }
    }
    eprintln!("bert-2-64-4: max relative error over sampled coordinates {worst:.1e}");
    // The used word row's gradient is not zero, so the check above had something to check.
    let word = &model.params[0];
    assert!(eval.grad[word.offset + used * 64 + 3].abs() > 1e-6);
}

/// Changing a padded token's id, or its token type, changes neither the loss nor any
/// gradient, in f64 and on every adapter (the same bits); changing a real token's does.
#[test]
fn padding_changes_nothing() {
    let model = bert("bert-2-64-4", INPUT, 3);
    let mut rng = Pcg::new(40, 0);
    let batch = text_batch(&mut rng, INPUT, 3, 3);
    let t = INPUT.tokens;
    // Example 1's last token is padding (its length is below t), example 0 has none.
    assert_eq!(batch.pixels[3 * t + 2 * t + t - 1], 0.0);
    let mut moved = batch.clone();
    moved.pixels[3 * t + t - 1] = 17.0;
    moved.pixels[3 * t + 2 * t - 1] = 1.0;
    let mut real = batch.clone();
    real.pixels[1] = if real.pixels[1] == 17.0 { 18.0 } else { 17.0 };
    let x = model.init(11);
    let xs = f64s(&x);
    let eval = |b: &Batch| reference::evaluate(&model, &xs, &f64s(&b.pixels), &b.labels, 0.1);
    let (base, padded, changed) = (eval(&batch), eval(&moved), eval(&real));
    assert_eq!(base.loss, padded.loss);
    assert_eq!(base.grad, padded.grad);
    assert_ne!(base.loss, changed.loss);
    for gpu in &gpus() {
        let params = gpu.upload(&x, "params").unwrap();
        let grads = gpu.zeros::<f32>(x.len(), "grads").unwrap();
        let mut ev = Evaluator::new(model.clone(), 0.1, kernels(gpu), &params, &grads).unwrap();
        let mut run = |b: &Batch| {
            let (loss, _) = ev.evaluate(gpu, b).unwrap();
            (loss, gpu.read(&grads).unwrap())
        };
        let (a, b, c) = (run(&batch), run(&moved), run(&real));
        let what = gpu.adapter.short();
        assert_eq!(a.0.to_bits(), b.0.to_bits(), "{what}: loss");
        assert!(a.1 == b.1, "{what}: gradients");
        assert_ne!(a.0, c.0, "{what}: a real token's id must matter");
    }
}

#[test]
fn gpu_bert_matches_cpu_reference() {
    let cases = [
        ("bert-2-64-4", INPUT, 3, 4),
        (
            "bert-1-48-3",
            TextInput {
                vocab: 30,
                positions: 40,
                tokens: 33,
                pad: 3,
            },
            2,
            2,
        ),
    ];
    for gpu in &gpus() {
        for (kind, input, classes, n) in cases {
            let model = bert(kind, input, classes);
            let b = text_batch(&mut Pcg::new(5, 0), input, n, classes);
            check_evaluator_at(gpu, &model, (&model.init(11), &b), (kernels(gpu), None));
        }
    }
}

/// AdamW (lr 1e-3, decay 0.01, biases and LayerNorms spared) alone, under SAM and under
/// SAMPa-0.1 on bert-2-64-4 with Hugging Face's dropout (0.1) for 5 steps of a small
/// sentence-pair task (padded pairs whose labels depend on their words), under every schedule
/// (each pass draws its masks from the seed, the step and the pass), against the f64
/// optimizer tensor by tensor: the RMS error over the RMS distance the f64 run moved, as the
/// ViT's AdamW test measures it. As there, coordinates whose f64 gradient at x0 lies within
/// 1e-6 of the largest are left out (AdamW's first step moves them by up to lr on f32
/// rounding noise): the key biases, whole (softmax ignores a shift common to a row, so their
/// gradient is rounding noise in f64 too), and the rows no token uses, whose gradients are
/// exactly 0 in both.
#[test]
fn adamw_sam_and_sampa_follow_the_f64_optimizer_on_a_sentence_pair_task() {
    let m = bert("bert-2-64-4", INPUT, 2).with_dropout(0.1).unwrap();
    let mut rng = Pcg::new(14, 0);
    let data: Vec<Batch> = (0..5)
        .map(|_| {
            let mut b = text_batch(&mut rng, INPUT, 4, 2);
            // The label: whether the pair's first token is an even id.
            for (k, label) in b.labels.iter_mut().enumerate() {
                *label = (b.pixels[k * 3 * INPUT.tokens] as u32) % 2;
            }
            b
        })
        .collect();
    let runs = [
        (OptimizerKind::Sgd, 0.0),
        (OptimizerKind::Sam, 0.0),
        (OptimizerKind::Sampa, 0.1),
    ];
    adamw_follows_the_f64_optimizer(&m, &data, &runs);
}

/// AdamW as the base of each of `runs` (optimizer and λ) over `data` on `m`, under every
/// placement, against the f64 optimizer (see the test above for the measure and the
/// coordinates left out).
fn adamw_follows_the_f64_optimizer(m: &Model, data: &[Batch], runs: &[(OptimizerKind, f32)]) {
    let gpus = gpus();
    let (gpu, worker) = (&gpus[0], gpus.get(1).unwrap_or(&gpus[0]));
    let x0 = m.init(8);
    let hyper = AdamHyper {
        lr: 1e-3,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.01,
        decoupled: true,
    };
    let x0_64 = f64s(&x0);
    let g0 = reference::evaluate(m, &x0_64, &f64s(&data[0].pixels), &data[0].labels, 0.0).grad;
    let largest = g0.iter().fold(0.0f64, |a, g| a.max(g.abs()));
    let kept: Vec<bool> = g0.iter().map(|g| g.abs() > 1e-6 * largest).collect();
    eprintln!(
        "{} coordinates with a gradient at rounding level left out",
        kept.iter().filter(|k| !**k).count()
    );
    // Only the key biases are left out whole.
    let whole: Vec<&str> = m
        .params
        .iter()
        .filter(|p| !kept[p.offset..p.offset + p.len()].contains(&true))
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        whole,
        [
            "bert.encoder.layer.0.attention.self.key.bias",
            "bert.encoder.layer.1.attention.self.key.bias"
        ]
    );
    for &(kind, lambda) in runs {
        let config = OptimizerConfig {
            kind,
            base: BaseKind::AdamW,
            no_wd_1d: true,
            lambda,
            ..Default::default()
        };
        let mut r = RefOptimizer::new(config, &x0, 7);
        for b in data {
            r.step(m, 0.0, b, hyper);
        }
        for placement in placements(kind, m, worker) {
            let what = format!("{} {} {placement:?}", m.name, config.label());
            let mut t = trainer(gpu, m, 0.0, &x0, config, 7);
            t.set_placement(gpu, placement).unwrap();
            for b in data {
                t.step(gpu, b, hyper).unwrap();
            }
            let x = t.state(gpu).unwrap().x;
            let worst = worst_tensor(m, (&x, &r.x, &x0_64), &kept, &whole);
            eprintln!(
                "{what}: worst RMS error / RMS distance {:.2e} ({})",
                worst.0, worst.1
            );
            assert!(worst.0 < 1e-3, "{what}: {} off by {:.2e}", worst.1, worst.0);
        }
    }
}

const NEUTRAL: [&str; 16] = [
    "the", "a", "movie", "film", "story", "plot", "actor", "scene", "was", "is", "very", "quite",
    "and", "but", "it", "this",
];
const POSITIVE: [&str; 4] = ["good", "great", "fine", "nice"];
const NEGATIVE: [&str; 4] = ["bad", "awful", "poor", "sad"];

/// A small sentiment task in SST-2's layout in `dir` (a header, then `sentence<TAB>label`):
/// 3 to 8 neutral words and one positive (label 1) or negative (label 0) word, and a
/// `vocab.txt` of those words with BERT's special tokens.
fn sentiment_task(dir: &Path, train: usize, dev: usize) {
    let mut rng = Pcg::new(3, 0);
    let mut vocab: Vec<&str> = vec!["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."];
    vocab.extend(NEUTRAL.iter().chain(&POSITIVE).chain(&NEGATIVE));
    std::fs::write(dir.join("vocab.txt"), vocab.join("\n") + "\n").unwrap();
    let mut rows = |n: usize| {
        let mut out = String::from("sentence\tlabel\n");
        for _ in 0..n {
            let label = rng.below(2);
            let mut words: Vec<&str> = (0..3 + rng.below(6))
                .map(|_| NEUTRAL[rng.below(16) as usize])
                .collect();
            let cue = if label == 1 { POSITIVE } else { NEGATIVE };
            let at = rng.below(words.len() as u32 + 1) as usize;
            words.insert(at, cue[rng.below(4) as usize]);
            out += &format!("{} .\t{label}\n", words.join(" "));
        }
        out
    };
    std::fs::write(dir.join("train.tsv"), rows(train)).unwrap();
    std::fs::write(dir.join("dev.tsv"), rows(dev)).unwrap();
}

fn epoch_records(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "epoch")
        .collect()
}

/// The command: bert-2-64-4 on an SST-2 task (whose labels depend on the words)
/// with AdamW and SAMPa-0.1 learns it, well above chance (a half), and the same data in
/// CoLA's layout reports Matthews' correlation per epoch.
#[test]
fn sampa_train_fine_tunes_bert_on_a_glue_task() {
    let dir = scratch("bert", "sentiment");
    sentiment_task(&dir, 512, 64);
    let data = dir.to_str().unwrap();
    let vocab = dir.join("vocab.txt");
    let run = dir.join("run");
    let common = [
        "train",
        "--model",
        "bert-2-64-4",
        "--tokenizer",
        vocab.to_str().unwrap(),
        "--max-len",
        "12",
        "--base",
        "adamw",
        "--lr",
        "1e-3",
        "--wd",
        "0.01",
        "--batch",
        "16",
        "--epochs",
        "3",
    ];
    let mut args = common.to_vec();
    args.extend([
        "--data",
        data,
        "--task",
        "sst2",
        "--optimizer",
        "sampa",
        "--lambda",
        "0.1",
        "--out",
        run.to_str().unwrap(),
    ]);
    let out = success(&sampa(&args));
    assert!(
        out.contains("GLUE sst2") && out.contains("512 train, 64 dev"),
        "{out}"
    );
    let records = epoch_records(&run);
    let last = records.last().unwrap()["test_accuracy"].as_f64().unwrap();
    assert!(last >= 0.9, "test accuracy {last} after 3 epochs: {out}");
    // The model file carries Hugging Face's names.
    let bytes = std::fs::read(run.join("model.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let names: Vec<String> = meta.tensors().keys().cloned().collect();
    let mut want = hugging_face_names(2);
    let mut got = names.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // `sampa eval` rebuilds the model and its inputs from the file and the tokenizer.
    let model = run.join("model.safetensors");
    let tok = vocab.to_str().unwrap();
    let args = [
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data,
        "--tokenizer",
        tok,
    ];
    let eval = success(&sampa(&args));
    let shown = format!("on 64 test texts of {data}");
    let acc = format!("accuracy {:.2}%", 100.0 * last);
    assert!(eval.contains(&shown) && eval.contains(&acc), "{eval}");
    let line = error_line(&sampa(&args[..5]));
    assert!(line.contains("give --tokenizer FILE"), "{line}");

    // CoLA's layout: no header; source, label, the original mark, the sentence.
    let cola = dir.join("cola");
    std::fs::create_dir_all(&cola).unwrap();
    for file in ["train.tsv", "dev.tsv"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let rows: String = text
            .lines()
            .skip(1)
            .map(|l| {
                let (sentence, label) = l.split_once('\t').unwrap();
                let mark = if label == "1" { "" } else { "*" };
                format!("gj04\t{label}\t{mark}\t{sentence}\n")
            })
            .collect();
        std::fs::write(cola.join(file), rows).unwrap();
    }
    let run = dir.join("cola-run");
    let mut args = common.to_vec();
    args.extend([
        "--task",
        "cola",
        "--data",
        cola.to_str().unwrap(),
        "--steps",
        "8",
        "--out",
        run.to_str().unwrap(),
    ]);
    let out = success(&sampa(&args));
    assert!(out.contains("  mcc "), "{out}");
    let mcc = epoch_records(&run)[0]["test_mcc"].as_f64().unwrap();
    assert!((-1.0..=1.0).contains(&mcc), "{mcc}");
    // A text run resumes from its checkpoint on the same tokenized data.
    let resume = ["train", "--resume", run.to_str().unwrap(), "--steps", "12"];
    let out = success(&sampa(&resume));
    assert!(out.contains("done: 12 steps"), "{out}");
}

/// One-line errors for text settings: an unknown task, a tokenizer file of neither format,
/// --max-len past the positions, a TSV row that lacks a column or has another label, and
/// flags that do not go together.
#[test]
fn text_settings_are_checked_with_one_line_errors() {
    let dir = scratch("bert", "errors");
    sentiment_task(&dir, 8, 4);
    let data = dir.to_str().unwrap().to_string();
    let vocab = dir.join("vocab.txt").to_str().unwrap().to_string();
    let run = dir.join("run").to_str().unwrap().to_string();
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--model",
            "bert-2-64-4",
            "--data",
            &data,
            "--epochs",
            "1",
            "--out",
            &run,
            "--overwrite",
        ];
        args.extend(extra);
        sampa(&args)
    };
    let picture = dir.join("picture.png");
    std::fs::write(&picture, [0x89, b'P', b'N', b'G', 0xff, 0xfe]).unwrap();
    let picture = picture.to_str().unwrap();
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["--task", "sts", "--tokenizer", &vocab],
            &["--task sts: not a GLUE task", "sst2"],
        ),
        (
            &["--task", "sst2", "--tokenizer", picture],
            &[
                "picture.png",
                "neither a Hugging Face tokenizer.json nor a BERT vocab.txt",
            ],
        ),
        (
            &["--task", "sst2", "--tokenizer", &vocab, "--max-len", "600"],
            &["--max-len 600", "512 positions"],
        ),
        (&["--task", "sst2"], &["--tokenizer FILE"]),
        (&[], &["--model bert-2-64-4 reads text", "--task"]),
        (
            &["--task", "sst2", "--tokenizer", &vocab, "--normalize"],
            &["--normalize applies to images"],
        ),
    ];
    for (extra, wanted) in cases {
        let line = error_line(&train(extra));
        for w in wanted {
            assert!(line.contains(w), "{extra:?}: {line:?} lacks {w:?}");
        }
    }
    // Rows GLUE's files would not have.
    let dev = dir.join("dev.tsv");
    std::fs::write(&dev, "sentence\tlabel\ngood film .\t1\nbad film .\n").unwrap();
    let line = error_line(&train(&["--task", "sst2", "--tokenizer", &vocab]));
    assert!(line.contains("dev.tsv: line 3, column 2"), "{line}");
    std::fs::write(&dev, "sentence\tlabel\ngood film .\t2\n").unwrap();
    let line = error_line(&train(&["--task", "sst2", "--tokenizer", &vocab]));
    assert!(
        line.contains("dev.tsv: line 2") && line.contains("\"2\""),
        "{line}"
    );
    // A model name clap refuses.
    let out = sampa(&["train", "--model", "bert-2-64-5"]);
    assert!(usage_error(&out).contains("5 heads do not divide the width 64"));
}

/// With `--dropout 0.1` (Hugging Face's rate, on the embeddings, the attention probabilities,
/// each dense output before its residual and before the classifier): the GPU evaluator against
/// the f64 reference drawing the same masks, on every adapter; another key draws other masks;
/// evaluation drops nothing; and the f64 gradient with the masks fixed against central
/// differences.
#[test]
fn dropout_matches_the_f64_reference_with_the_same_masks() {
    let m = bert("bert-2-64-4", INPUT, 3).with_dropout(0.1).unwrap();
    let plain = bert("bert-2-64-4", INPUT, 3);
    assert!(m.has_dropout() && !plain.has_dropout());
    let x = m.init(11);
    let xs = f64s(&x);
    let b = text_batch(&mut Pcg::new(5, 0), INPUT, 4, 3);
    let inputs = f64s(&b.pixels);
    let key = sampa::kernels::dropout::pass_key(11, 1, 0);
    let want = reference::evaluate_keyed(&m, &xs, (&inputs, &b.labels), 0.1, key);
    let other = reference::evaluate_keyed(&m, &xs, (&inputs, &b.labels), 0.1, key ^ 1);
    let undropped = reference::evaluate_keyed(&plain, &xs, (&inputs, &b.labels), 0.1, key);
    assert!(
        (want.loss - other.loss).abs() > 1e-4,
        "{} {}",
        want.loss,
        other.loss
    );
    assert!((want.loss - undropped.loss).abs() > 1e-4);
    for gpu in &gpus() {
        check_evaluator_at(gpu, &m, (&x, &b), (kernels(gpu), Some(key)));
    }
    // Evaluation keeps everything: the dropout model evaluates as the plain one.
    let state = f64s(&m.init_state());
    let eval = |m: &Model| reference::evaluate_eval(m, (&xs, &state), &inputs, &b.labels, 0.0);
    assert_eq!(eval(&m), eval(&plain));
    // Central differences with the masks fixed by the key, on two examples, at one
    // coordinate of every tensor.
    let mut rng = Pcg::new(39, 0);
    let params: Vec<f64> = x
        .iter()
        .map(|&v| v as f64 * 4.0 + 0.01 * rng.normal() as f64)
        .collect();
    let b = text_batch(&mut rng, INPUT, 2, 3);
    let inputs = f64s(&b.pixels);
    let loss = |p: &[f64]| reference::evaluate_keyed(&m, p, (&inputs, &b.labels), 0.1, key).loss;
    let grad = reference::evaluate_keyed(&m, &params, (&inputs, &b.labels), 0.1, key).grad;
    let h = 1e-5;
    for p in &m.params {
        let i = p.offset + 13 % p.len();
        let (num, err) = central_difference(loss, &params, (i, h), grad[i]);
        assert!(
            err < 1e-4,
            "{} [{}]: {} against {num}",
            p.name,
            i - p.offset,
            grad[i]
        );
    }
}

/// Hugging Face's own `BertForSequenceClassification` (`scripts/bert-fixtures`, checked in):
/// sampa reads the file transformers saved by name and shape, and on a padded batch of pairs
/// its f64 reference gives the losses transformers computed in float64 from the same weights,
/// and the GPU their mean, on every adapter. This checks the architecture itself (post-norm
/// order, exact GELU, eps, the pooler, the mask) against an implementation that is not ours.
#[test]
fn hugging_faces_bert_gives_the_same_losses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert");
    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("hf-bert-1-16-2.json"))
            .expect("tests/fixtures/bert: run scripts/bert-fixtures"),
    )
    .unwrap();
    let input = TextInput {
        vocab: 20,
        positions: 8,
        tokens: 8,
        pad: 0,
    };
    let model = bert("bert-1-16-2", input, 3);
    let x = sampa::run::checkpoint::load(&model, &dir.join("hf-bert-1-16-2.safetensors")).unwrap();
    let rows = |k: &str| -> Vec<Vec<f32>> {
        case[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect()
    };
    let (ids, types, mask) = (
        rows("input_ids"),
        rows("token_type_ids"),
        rows("attention_mask"),
    );
    let pixels: Vec<f32> = (0..ids.len())
        .flat_map(|b| [&ids[b][..], &types[b][..], &mask[b][..]].concat())
        .collect();
    let labels: Vec<u32> = case["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let want: Vec<f64> = case["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let got = reference::evaluate(&model, &f64s(&x), &f64s(&pixels), &labels, 0.0);
    let worst = got
        .losses
        .iter()
        .zip(&want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    eprintln!("losses {want:?}: sampa's f64 reference within {worst:.1e}");
    for (k, (g, w)) in got.losses.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "example {k}: {g} against {w}"
        );
    }
    // The losses differ from example to example, so the check above is not of a constant.
    assert!((want[0] - want[1]).abs() > 1e-3 && (want[1] - want[2]).abs() > 1e-3);
    let mean = want.iter().sum::<f64>() / want.len() as f64;
    let batch = Batch {
        pixels,
        labels,
        drawn: Vec::new(),
    };
    for gpu in &gpus() {
        let params = gpu.upload(&x, "params").unwrap();
        let grads = gpu.zeros::<f32>(x.len(), "grads").unwrap();
        let mut ev = Evaluator::new(model.clone(), 0.0, kernels(gpu), &params, &grads).unwrap();
        let (loss, _) = ev.evaluate(gpu, &batch).unwrap();
        let what = format!("{} against transformers", gpu.adapter.short());
        assert_close(&what, &[loss], &[mean], 1e-5, 1e-5);
    }
}

/// Fine-tuning from a pre-trained checkpoint as Hugging Face saves `bert-base-uncased` (a
/// `BertForPreTraining`): `--init FILE --reset-head` takes every encoder tensor, seeds a new
/// classifier, and leaves out the pre-training heads (`cls.*`) and the `position_ids` buffer,
/// as `BertForSequenceClassification.from_pretrained` does; any other unknown tensor is still
/// an error naming it.
/// The Hugging Face fixture `hf-bert-1-16-2` (20 word rows, 8 positions) as pre-training
/// leaves a checkpoint, written to `path`: no classifier, a masked-LM head's bias, and the
/// tensor `extra` (of 4 values) if given.
fn pretraining_file(path: &Path, extra: Option<&str>) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert");
    let bytes = std::fs::read(dir.join("hf-bert-1-16-2.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("classifier"))
        .map(|(n, t)| (n, t.shape().to_vec(), t.data().to_vec()))
        .collect();
    all.push(("cls.predictions.bias".into(), vec![20], vec![0; 80]));
    if let Some(e) = extra {
        all.push((e.to_string(), vec![4], vec![0; 16]));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = all
        .iter()
        .map(|(n, shape, data)| {
            let v =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap();
            (n.clone(), v)
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
    path.to_path_buf()
}

#[test]
fn a_pretraining_checkpoint_fine_tunes_with_a_new_head() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert");
    let input = TextInput {
        vocab: 20,
        positions: 8,
        tokens: 8,
        pad: 0,
    };
    let write = |name: &str, extra: Option<&str>| {
        pretraining_file(&scratch("bert", "pretrained").join(name), extra)
    };
    let model = bert("bert-1-16-2", input, 2);
    let seeded = model.init(3);
    let path = write("pretraining.safetensors", None);
    let (x, notes) =
        sampa::run::checkpoint::pretrained::load(&model, &path, &seeded, true).unwrap();
    assert!(notes.iter().any(|n| n.contains("cls.*")), "{notes:?}");
    let hf = bert("bert-1-16-2", input, 3);
    let theirs =
        sampa::run::checkpoint::load(&hf, &dir.join("hf-bert-1-16-2.safetensors")).unwrap();
    for p in &model.params {
        let got = &x[p.offset..p.offset + p.len()];
        if p.name.starts_with("classifier") {
            assert_eq!(got, &seeded[p.offset..p.offset + p.len()], "{}", p.name);
        } else {
            let q = hf.param(&p.name).unwrap();
            assert_eq!(got, &theirs[q.offset..q.offset + q.len()], "{}", p.name);
        }
    }
    let path = write("other.safetensors", Some("bert.encoder.extra"));
    let err = sampa::run::checkpoint::pretrained::load(&model, &path, &seeded, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"bert.encoder.extra\""), "{err}");
}

/// An `--init` file fixes the word and position tables (here 20 rows and 8 positions, where
/// the tokenizer has 14 ids): training, `sampa eval` and a resume whose `--init` file has
/// gone all build the file's sizes; a tokenizer of more ids than the table, and a
/// `--max-len` past its positions, are one-line errors.
#[test]
fn an_init_file_fixes_the_word_and_position_tables() {
    let dir = scratch("bert", "tables");
    let words = [
        "the", "movie", "was", "very", "good", "great", "bad", "awful",
    ];
    let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."];
    let vocab: Vec<&str> = specials.iter().chain(&words).copied().collect();
    std::fs::write(dir.join("vocab.txt"), vocab.join("\n") + "\n").unwrap();
    let mut rows = String::from("sentence\tlabel\n");
    for i in 0..32 {
        let cue = words[4 + i % 4];
        rows += &format!("the movie was {cue} .\t{}\n", usize::from(i % 4 < 2));
    }
    for file in ["train.tsv", "dev.tsv"] {
        std::fs::write(dir.join(file), &rows).unwrap();
    }
    let init = pretraining_file(&dir.join("pretraining.safetensors"), None);
    let (data, run) = (dir.to_str().unwrap(), dir.join("run"));
    let tok = dir.join("vocab.txt");
    let train = |max_len: &str, tok: &Path| {
        let args = [
            "train",
            "--model",
            "bert-1-16-2",
            "--task",
            "sst2",
            "--data",
            data,
            "--tokenizer",
            tok.to_str().unwrap(),
            "--max-len",
            max_len,
            "--init",
            init.to_str().unwrap(),
            "--reset-head",
            "--base",
            "adamw",
            "--lr",
            "1e-3",
            "--batch",
            "8",
            "--steps",
            "4",
            "--out",
            run.to_str().unwrap(),
        ];
        sampa(&args)
    };
    let out = success(&train("8", &tok));
    assert!(out.contains("cls.*"), "{out}");
    let bytes = std::fs::read(run.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let shape = |n: &str| st.tensor(n).unwrap().shape().to_vec();
    assert_eq!(shape("bert.embeddings.word_embeddings.weight"), [20, 16]);
    assert_eq!(shape("bert.embeddings.position_embeddings.weight"), [8, 16]);
    let model = run.join("model.safetensors");
    let eval = [
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data,
        "--tokenizer",
        tok.to_str().unwrap(),
    ];
    let eval = success(&sampa(&eval));
    assert!(eval.contains("on 32 test texts"), "{eval}");
    // The resume builds the tables from its checkpoint, not from the --init file.
    std::fs::rename(&init, dir.join("moved.safetensors")).unwrap();
    let resume = ["train", "--resume", run.to_str().unwrap(), "--steps", "6"];
    let out = success(&sampa(&resume));
    assert!(out.contains("done: 6 steps"), "{out}");
    std::fs::rename(dir.join("moved.safetensors"), &init).unwrap();
    std::fs::remove_dir_all(&run).unwrap();
    let line = error_line(&train("12", &tok));
    assert!(
        line.contains("--max-len 12") && line.contains("8 positions"),
        "{line}"
    );
    let mut many = vocab.clone();
    many.extend(["nice", "fine", "poor", "sad", "a", "is", "it"]);
    let big = dir.join("big-vocab.txt");
    std::fs::write(&big, many.join("\n") + "\n").unwrap();
    let line = error_line(&train("8", &big));
    assert!(
        line.contains("21 ids") && line.contains("20 rows"),
        "{line}"
    );
    // A header length past the file's end is refused before anything is allocated for it.
    let mut bad = (1u64 << 40).to_le_bytes().to_vec();
    bad.extend([b'{'; 8]);
    std::fs::write(&init, bad).unwrap();
    let line = error_line(&train("8", &tok));
    assert!(
        line.contains("a header of 1099511627776 bytes in a file of 16"),
        "{line}"
    );
}

// STS-B: one output trained with mean squared error, as Hugging Face's
// `BertForSequenceClassification` with one label.

/// `batch` with regression targets in [0, 5] (as the bits the labels carry them in) that
/// depend on the pair's first token.
fn with_scores(mut b: Batch) -> Batch {
    for (k, label) in b.labels.iter_mut().enumerate() {
        let id = b.pixels[k * 3 * INPUT.tokens];
        *label = mse::target_bits(id / 8.0);
    }
    b
}

/// The one-output head's f64 gradient against central differences (its squared error
/// included), and the GPU's loss and gradient against the f64 reference on every adapter.
#[test]
fn regression_head_matches_finite_differences_and_the_gpu() {
    let model = bert("bert-2-64-4", INPUT, 1);
    assert!(model.regression());
    let mut rng = Pcg::new(41, 0);
    let params: Vec<f64> = model
        .init(5)
        .iter()
        .map(|&v| v as f64 * 4.0 + 0.01 * rng.normal() as f64)
        .collect();
    let batch = with_scores(text_batch(&mut rng, INPUT, 3, 1));
    let inputs = f64s(&batch.pixels);
    let loss = |p: &[f64]| reference::evaluate(&model, p, &inputs, &batch.labels, 0.0).loss;
    let eval = reference::evaluate(&model, &params, &inputs, &batch.labels, 0.0);
    // The loss is the mean squared error of the head's outputs.
    assert!(eval.loss > 0.1, "{}", eval.loss);
    assert_eq!(eval.correct, 0);
    let h = 1e-5;
    for p in model.params.iter().filter(|p| {
        [
            "classifier",
            "pooler",
            "layer.1.output.dense",
            "word_embeddings",
        ]
        .iter()
        .any(|n| p.name.contains(n))
    }) {
        for i in (0..2).map(|j| p.offset + (j * 7919 + 13) % p.len()) {
            let (num, err) = central_difference(loss, &params, (i, h), eval.grad[i]);
            assert!(
                err < 1e-4,
                "{} [{}]: {} against {num}",
                p.name,
                i - p.offset,
                eval.grad[i]
            );
        }
    }
    let x: Vec<f32> = params.iter().map(|&v| v as f32).collect();
    for gpu in &gpus() {
        check_evaluator_at(gpu, &model, (&x, &batch), (kernels(gpu), None));
    }
}

/// AdamW and AdamW+SAMPa-0.1 with dropout follow the f64 optimizer on a regression, under
/// every placement, as the classifier's test above.
#[test]
fn adamw_and_sampa_follow_the_f64_optimizer_on_a_regression() {
    let m = bert("bert-2-64-4", INPUT, 1).with_dropout(0.1).unwrap();
    let mut rng = Pcg::new(15, 0);
    let data: Vec<Batch> = (0..5)
        .map(|_| with_scores(text_batch(&mut rng, INPUT, 4, 1)))
        .collect();
    let runs = [(OptimizerKind::Sgd, 0.0), (OptimizerKind::Sampa, 0.1)];
    adamw_follows_the_f64_optimizer(&m, &data, &runs);
}

/// A small task in STS-B's layout in `dir`: pairs of 2 to 5 neutral words and a cue word
/// each, scored 4.5 when the first sentence's cue is positive and 0.5 when negative, plus a
/// jitter below 0.4 (the second cue is a distractor), with the sentiment task's `vocab.txt`.
fn similarity_task(dir: &Path, train: usize, dev: usize) {
    sentiment_task(dir, 1, 1);
    let mut rng = Pcg::new(4, 0);
    let mut rows = |n: usize| {
        let mut out = String::from(
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n",
        );
        for i in 0..n {
            let sentence = |rng: &mut Pcg| {
                let mut words: Vec<&str> = (0..2 + rng.below(4))
                    .map(|_| NEUTRAL[rng.below(16) as usize])
                    .collect();
                let positive = rng.below(2) == 1;
                let cue = if positive { POSITIVE } else { NEGATIVE };
                let at = rng.below(words.len() as u32 + 1) as usize;
                words.insert(at, cue[rng.below(4) as usize]);
                (words.join(" "), positive)
            };
            let ((a, positive), (b, _)) = (sentence(&mut rng), sentence(&mut rng));
            let jitter = 0.4 * rng.below(1000) as f32 / 1000.0;
            let score = if positive { 4.5 } else { 0.5 } + jitter;
            out += &format!("{i}\tmain-news\tnone\t2012\t{i}\tnone\tnone\t{a}\t{b}\t{score:.3}\n");
        }
        out
    };
    std::fs::write(dir.join("train.tsv"), rows(train)).unwrap();
    std::fs::write(dir.join("dev.tsv"), rows(dev)).unwrap();
}

/// `sampa train --task stsb` learns the scores (Pearson's correlation on the dev pairs near
/// 1, the loss far below the scores' variance), reports GLUE's correlations rather than an
/// accuracy, and `sampa eval` gives the same; a regression refuses the flags that apply to
/// classes.
#[test]
fn sampa_train_fits_a_similarity_regression() {
    let dir = scratch("bert", "stsb");
    similarity_task(&dir, 384, 64);
    let data = dir.to_str().unwrap();
    let vocab = dir.join("vocab.txt");
    let run = dir.join("run");
    let args = [
        "train",
        "--model",
        "bert-2-64-4",
        "--task",
        "stsb",
        "--data",
        data,
        "--tokenizer",
        vocab.to_str().unwrap(),
        "--max-len",
        "16",
        "--base",
        "adamw",
        "--optimizer",
        "sampa",
        "--lambda",
        "0.1",
        "--lr",
        "2e-3",
        "--batch",
        "8",
        "--epochs",
        "3",
        "--out",
        run.to_str().unwrap(),
    ];
    let out = success(&sampa(&args));
    assert!(
        out.contains("GLUE stsb") && !out.contains("test acc"),
        "{out}"
    );
    let records = epoch_records(&run);
    let last = records.last().unwrap();
    assert!(last.get("test_accuracy").is_none(), "{last}");
    let (pearson, spearman) = (
        last["test_pearson"].as_f64().unwrap(),
        last["test_spearman"].as_f64().unwrap(),
    );
    // Predicting the mean scores a loss of 4 (the scores' variance) and no correlation; the
    // jitter within each group is noise, which bounds Spearman's well below 1.
    let loss = last["test_loss"].as_f64().unwrap();
    assert!(
        pearson > 0.9 && spearman > 0.5 && loss < 1.0,
        "{pearson} {spearman} {loss}: {out}"
    );
    let model = run.join("model.safetensors");
    let eval = [
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data,
        "--tokenizer",
        vocab.to_str().unwrap(),
    ];
    let eval = success(&sampa(&eval));
    let shown = format!("pearson {pearson:.4}, spearman {spearman:.4}");
    assert!(
        eval.contains(&shown) && !eval.contains("accuracy"),
        "{eval}"
    );
    let mut refused = args.to_vec();
    refused.extend(["--label-smoothing", "0.1"]);
    let line = error_line(&sampa(&refused));
    assert!(
        line.contains("--label-smoothing") && line.contains("regression"),
        "{line}"
    );
}
