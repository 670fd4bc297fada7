#![cfg(not(target_arch = "wasm32"))]
//! GLUE's task files and metrics: each task's own column layout read from rows in GLUE's
//! format, one-line errors naming the file, line and column, and every metric against values
//! computed by hand on fixed prediction lists.

use sampa::text::glue::{Example, Label, Task};
use sampa::text::metrics::{accuracy, f1, matthews, pearson, ranks, spearman};
use std::path::Path;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

/// Predictions 1 1 0 0 1 0 1 1 against gold 1 0 0 0 1 1 1 0: TP 3, FP 2, TN 2, FN 1.
const PREDICTED: [u32; 8] = [1, 1, 0, 0, 1, 0, 1, 1];
const GOLD: [u32; 8] = [1, 0, 0, 0, 1, 1, 1, 0];

#[test]
fn classification_metrics_match_hand_computed_values() {
    assert!(close(accuracy(&PREDICTED, &GOLD), 5.0 / 8.0));
    // F1 = 2·3 / (2·3 + 2 + 1) = 6/9.
    assert!(close(f1(&PREDICTED, &GOLD), 6.0 / 9.0));
    // MCC = (3·2 − 2·1) / √((3+2)(3+1)(2+2)(2+1)) = 4/√240 = 0.2581988897...
    let mcc = matthews(&PREDICTED, &GOLD);
    assert!(close(mcc, 4.0 / 240f64.sqrt()), "{mcc}");
    assert!((mcc - 0.258_198_889_7).abs() < 1e-10);
    // A constant prediction leaves MCC's denominator zero: 0, as scikit-learn gives.
    assert_eq!(matthews(&[1; 8], &GOLD), 0.0);
    assert_eq!(f1(&[0; 8], &GOLD), 0.0);
    // Swapping prediction and gold keeps MCC and F1.
    assert!(close(matthews(&GOLD, &PREDICTED), mcc));
    assert!(close(f1(&GOLD, &PREDICTED), 6.0 / 9.0));
}

#[test]
fn correlations_match_hand_computed_values_with_ties() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    let y = [2.0, 4.0, 5.0, 4.0, 5.0];
    // Deviations −2 −1 0 1 2 and −2 0 1 0 1: Σxy 6, Σx² 10, Σy² 6, r = 6/√60.
    assert!(close(pearson(&x, &y), 6.0 / 60f64.sqrt()));
    // y's ranks with ties averaged: 1, 2.5, 4.5, 2.5, 4.5 (deviations −2 −0.5 1.5 −0.5 1.5):
    // Σxy 7, Σy² 9, ρ = 7/√90 = 0.7378647873...
    assert_eq!(ranks(&y), [1.0, 2.5, 4.5, 2.5, 4.5]);
    let rho = spearman(&x, &y);
    assert!(close(rho, 7.0 / 90f64.sqrt()), "{rho}");
    assert!((rho - 0.737_864_787_4).abs() < 1e-10);
    assert_eq!(
        ranks(&[10.0, 20.0, 20.0, 30.0, 20.0]),
        [1.0, 3.0, 3.0, 5.0, 3.0]
    );
    // Perfectly monotone but not linear: Spearman 1, Pearson below it.
    let z = [1.0, 8.0, 27.0, 64.0, 125.0];
    assert!(close(spearman(&x, &z), 1.0));
    assert!(pearson(&x, &z) < 0.99);
    assert_eq!(pearson(&x, &[3.0; 5]), 0.0);
}

#[test]
fn each_task_reports_glues_metrics() {
    let classes = |v: &[u32]| v.iter().map(|&c| Label::Class(c)).collect::<Vec<_>>();
    let (p, g) = (classes(&PREDICTED), classes(&GOLD));
    let names = |t: Task| -> Vec<&str> { t.metrics(&p, &g).iter().map(|m| m.0).collect() };
    assert_eq!(names(Task::Cola), ["mcc"]);
    assert_eq!(names(Task::Mrpc), ["f1", "accuracy"]);
    assert_eq!(names(Task::Qqp), ["f1", "accuracy"]);
    for t in [Task::Sst2, Task::Mnli, Task::Qnli, Task::Rte, Task::Wnli] {
        assert_eq!(names(t), ["accuracy"], "{t:?}");
    }
    let mrpc = Task::Mrpc.metrics(&p, &g);
    assert!(close(mrpc[0].1, 6.0 / 9.0) && close(mrpc[1].1, 5.0 / 8.0));
    // MNLI's three classes: 4 of 6 right.
    let m = Task::Mnli.metrics(&classes(&[0, 1, 2, 2, 1, 0]), &classes(&[0, 1, 2, 1, 0, 0]));
    assert!(close(m[0].1, 4.0 / 6.0));
    let scores = |v: &[f32]| v.iter().map(|&s| Label::Score(s)).collect::<Vec<_>>();
    let s = Task::Stsb.metrics(
        &scores(&[1.0, 2.0, 3.0, 4.0, 5.0]),
        &scores(&[2.0, 4.0, 5.0, 4.0, 5.0]),
    );
    assert_eq!((s[0].0, s[1].0), ("pearson", "spearman"));
    assert!(close(s[0].1, 6.0 / 60f64.sqrt()) && close(s[1].1, 7.0 / 90f64.sqrt()));
}

/// A header line (where the task has one) and one row of `fields`, tab-separated.
fn file(header: Option<&str>, rows: &[&[&str]]) -> String {
    let mut out = header.map(|h| format!("{h}\n")).unwrap_or_default();
    for r in rows {
        out.push_str(&r.join("\t"));
        out.push('\n');
    }
    out
}

fn one(task: Task, text: &str) -> Example {
    let mut all = task.parse(text, Path::new("x/train.tsv")).unwrap();
    assert_eq!(all.len(), 1, "{task:?}");
    all.remove(0)
}

fn pair(a: &str, b: &str, label: Label) -> Example {
    Example {
        a: a.into(),
        b: Some(b.into()),
        label,
    }
}

#[test]
fn every_task_reads_its_own_columns() {
    use Label::{Class, Score};
    // CoLA: no header; source, label, original label, sentence.
    let cola = file(
        None,
        &[&["gj04", "1", "", "Our friends won't buy this analysis."]],
    );
    let e = one(Task::Cola, &cola);
    assert_eq!(
        (e.a.as_str(), e.b, e.label),
        ("Our friends won't buy this analysis.", None, Class(1))
    );
    let sst = file(
        Some("sentence\tlabel"),
        &[&["a charming and often affecting journey . ", "1"]],
    );
    assert_eq!(one(Task::Sst2, &sst).label, Class(1));
    // MRPC, with quotes that a CSV reader would take as quoting.
    let mrpc = file(
        Some("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"),
        &[&[
            "0",
            "702876",
            "702977",
            "He called \" the witness \" a liar",
            "\"No\" , he said",
        ]],
    );
    assert_eq!(
        one(Task::Mrpc, &mrpc),
        pair(
            "He called \" the witness \" a liar",
            "\"No\" , he said",
            Class(0)
        )
    );
    let stsb = file(
        Some(
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore",
        ),
        &[&[
            "0",
            "main-captions",
            "MSRvid",
            "2012test",
            "0001",
            "none",
            "none",
            "A plane is taking off.",
            "An air plane is taking off.",
            "4.750",
        ]],
    );
    assert_eq!(
        one(Task::Stsb, &stsb),
        pair(
            "A plane is taking off.",
            "An air plane is taking off.",
            Score(4.75)
        )
    );
    let qqp = file(
        Some("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"),
        &[&["7", "15", "16", "How do I read?", "How can I read?", "1"]],
    );
    assert_eq!(
        one(Task::Qqp, &qqp),
        pair("How do I read?", "How can I read?", Class(1))
    );
    // MNLI: the gold label is the last column, after one annotator's label in train and five
    // in dev.
    let parses = ["(a)", "(b)", "(( a))", "(( b))"];
    let mut train = vec!["0", "31193", "31193n", "government"];
    train.extend(parses);
    train.extend(["Premise here.", "Hypothesis here.", "neutral", "neutral"]);
    let mut dev = vec!["1", "2", "3n", "fiction"];
    dev.extend(parses);
    dev.extend([
        "P.",
        "H.",
        "entailment",
        "neutral",
        "entailment",
        "entailment",
        "entailment",
        "entailment",
    ]);
    let header = Some(
        "index\tpromptID\tpairID\tgenre\ts1bp\ts2bp\ts1p\ts2p\tsentence1\tsentence2\tlabel1\tgold_label",
    );
    assert_eq!(
        one(Task::Mnli, &file(header, &[&train])),
        pair("Premise here.", "Hypothesis here.", Class(2))
    );
    assert_eq!(
        one(Task::Mnli, &file(header, &[&dev])),
        pair("P.", "H.", Class(1))
    );
    for (task, label, class) in [
        (Task::Qnli, "not_entailment", 1),
        (Task::Rte, "entailment", 0),
        (Task::Wnli, "1", 1),
    ] {
        let text = file(
            Some("index\tsentence1\tsentence2\tlabel"),
            &[&["0", "A.", "B.", label]],
        );
        assert_eq!(one(task, &text), pair("A.", "B.", Class(class)), "{task:?}");
    }
    // A byte-order mark and Windows line ends are GLUE's too at times.
    let crlf = format!("\u{feff}{}", sst.replace('\n', "\r\n"));
    assert_eq!(
        one(Task::Sst2, &crlf).a,
        "a charming and often affecting journey . "
    );
    assert_eq!(Task::Mnli.outputs(), 3);
    assert_eq!(Task::Stsb.outputs(), 1);
    assert!(Task::Rte.pairs() && !Task::Cola.pairs());
    assert_eq!(Task::Mnli.dev_file(), "dev_matched.tsv");
}

#[test]
fn malformed_rows_are_errors_naming_the_file_line_and_column() {
    let err = |task: Task, text: &str| {
        task.parse(text, Path::new("glue/RTE/dev.tsv"))
            .unwrap_err()
            .to_string()
    };
    let header = "index\tsentence1\tsentence2\tlabel";
    // The second row lacks its second sentence and label.
    let text = file(
        Some(header),
        &[&["0", "A.", "B.", "entailment"], &["1", "C."]],
    );
    let e = err(Task::Rte, &text);
    assert!(
        e.starts_with("glue/RTE/dev.tsv: line 3, column 3: no second sentence")
            && e.contains("2 tab-separated columns"),
        "{e}"
    );
    let text = file(Some(header), &[&["0", "A.", "B.", "maybe"]]);
    let e = err(Task::Rte, &text);
    assert!(
        e.contains("line 2, column 4: label \"maybe\" is not rte's")
            && e.contains("entailment, not_entailment"),
        "{e}"
    );
    let stsb = "h\n0\tg\tf\ty\to\ts1\ts2\tA.\tB.\tfive\n";
    let e = err(Task::Stsb, stsb);
    assert!(
        e.contains("line 2, column 10") && e.contains("a number"),
        "{e}"
    );
    // STS-B's score counts from the end, but must follow both sentences.
    let e = err(Task::Stsb, "h\n0\tg\tf\ty\to\ts1\ts2\tA.\tB.\n");
    assert!(e.contains("line 2, column 10: no label"), "{e}");
    let e = Task::named("squad").unwrap_err().to_string();
    assert!(
        e.contains("--task squad") && e.contains("cola, sst2, mrpc, stsb"),
        "{e}"
    );
    assert_eq!(Task::named("qnli").unwrap(), Task::Qnli);
}

#[test]
fn a_task_folder_loads_its_train_and_dev_files() {
    let dir = std::env::temp_dir().join(format!("sampa-glue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let header = Some("index\tsentence1\tsentence2\tlabel");
    let rows: [&[&str]; 2] = [&["0", "A.", "B.", "0"], &["1", "C.", "D.", "1"]];
    std::fs::write(dir.join("train.tsv"), file(header, &rows)).unwrap();
    let e = Task::Wnli.load(&dir).unwrap_err().to_string();
    assert!(e.contains("dev.tsv") && e.contains("cannot read it"), "{e}");
    std::fs::write(dir.join("dev.tsv"), file(header, &rows[..1])).unwrap();
    let (train, dev) = Task::Wnli.load(&dir).unwrap();
    assert_eq!((train.len(), dev.len()), (2, 1));
    assert_eq!(train[1], pair("C.", "D.", Label::Class(1)));
    std::fs::remove_dir_all(&dir).unwrap();
}
