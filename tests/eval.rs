#![cfg(not(target_arch = "wasm32"))]
//! Model files describe their model: `sampa eval` rebuilds and feeds a model from a model
//! file's metadata alone, and `--init` checks the file's model by name.

mod common;

use common::cli::{error_line, sampa, scratch};

fn ok(out: std::process::Output) -> String {
    common::cli::success(&out)
}

/// The percentage after `label` in `text`.
fn percent_after(text: &str, label: &str) -> f64 {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {text}"))
        + label.len()..];
    rest.trim_start()
        .split('%')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn eval_reproduces_the_runs_test_accuracy_from_the_file_alone() {
    let d = scratch("eval", "normalized");
    let run = d.join("run");
    let train = ok(sampa(&[
        "train",
        "--data",
        "embedded",
        "--hidden",
        "32",
        "--epochs",
        "1",
        "--normalize",
        "--out",
        run.to_str().unwrap(),
    ]));
    let file = run.join("model.safetensors");
    let eval = ok(sampa(&["eval", "--model", file.to_str().unwrap()]));
    // The same test split at the same parameters, normalised by the statistics the file
    // carries (no flag says to normalise): the run's own figure, to the digit.
    let trained = percent_after(&train, "test accuracy");
    assert_eq!(percent_after(&eval, "accuracy"), trained, "{train}\n{eval}");
    // Per class, by the names the file carries: 100 test images each, which average to it.
    let classes = sampa::data::idx::FASHION_MNIST_CLASSES;
    let per: Vec<f64> = classes.iter().map(|c| percent_after(&eval, c)).collect();
    let mean = per.iter().sum::<f64>() / 10.0;
    assert!((mean - trained).abs() < 0.01, "{eval}");
}

#[test]
fn init_names_the_model_a_file_holds() {
    let d = scratch("eval", "init");
    let run = d.join("run");
    ok(sampa(&[
        "train",
        "--data",
        "embedded",
        "--hidden",
        "16",
        "--steps",
        "1",
        "--out",
        run.to_str().unwrap(),
    ]));
    let file = run.join("model.safetensors");
    let line = error_line(&sampa(&[
        "train",
        "--data",
        "embedded",
        "--hidden",
        "32",
        "--steps",
        "1",
        "--init",
        file.to_str().unwrap(),
        "--out",
        d.join("other").to_str().unwrap(),
    ]));
    assert!(
        line.contains("holds the parameters of mlp 784-16-10, but this run builds mlp 784-32-10")
            && line.contains("--hidden"),
        "{line}"
    );
    // A file without sampa's metadata cannot be evaluated: eval says why and what to do.
    let model = sampa::nn::Model::mlp(784, &[16], 10).unwrap();
    let plain = d.join("plain.safetensors");
    common::save_plain(&model, &model.init(0), &plain);
    let line = error_line(&sampa(&["eval", "--model", plain.to_str().unwrap()]));
    assert!(
        line.contains("has no sampa model metadata") && line.contains("--init"),
        "{line}"
    );
}

/// The predictions an evaluation reads back with each batch's metrics give the accuracy the
/// loss kernel counted, over a test set whose last batch is short, and a single batch's
/// prediction gives the same classes.
#[test]
fn predicted_classes_agree_with_the_loss_kernels_count() {
    let splits = sampa::data::idx::embedded().unwrap();
    let model = sampa::nn::Model::for_splits("mlp", &[32], &splits).unwrap();
    let x = model.init(4);
    let opts = sampa::data::BatchOptions {
        batch: 96,
        shuffle: false,
        seed: 0,
        normalize: None,
        augment: false,
        cutout: false,
        imagenet: false,
    };
    for gpu in &common::gpus() {
        let mut t = common::trainer(gpu, &model, 0.0, &x, Default::default(), 0);
        // A few steps, so the predictions are neither one class nor all right.
        let mut batches = sampa::data::Batcher::new(&splits.train, opts.clone(), 0);
        let mut batch = sampa::data::Batch::default();
        for _ in 0..3 {
            batches.next_into(&mut batch).unwrap();
            t.step(gpu, &batch, common::residual_hyper()).unwrap();
        }
        let test = &splits.test;
        assert_ne!(test.len() % 96, 0, "the last batch must be short");
        let (scores, predicted) = gpu
            .block_on(t.evaluate_predicting_async(gpu, test, &opts))
            .unwrap();
        assert_eq!(predicted.len(), test.len());
        let acc = sampa::text::metrics::accuracy(&predicted, &test.labels);
        assert_eq!(acc, scores.accuracy, "{}", gpu.adapter.short());
        assert!(acc > 0.15 && acc < 0.95, "{acc}: a test that cannot tell");
        let first = test.select(&(0..96).collect::<Vec<_>>());
        let mut batch = sampa::data::Batch::default();
        sampa::data::Batcher::new(&first, opts.clone(), 0)
            .next_into(&mut batch)
            .unwrap();
        let one = gpu.block_on(t.predict_async(gpu, &batch)).unwrap();
        assert_eq!(one, predicted[..96], "{}", gpu.adapter.short());
    }
}
