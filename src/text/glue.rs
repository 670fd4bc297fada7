//! GLUE's nine tasks (Wang et al., 2019) in the layouts of their own `.tsv` files, as Hugging
//! Face's `transformers/data/processors/glue.py` reads them: which columns hold the sentences
//! and the label, whether a header line comes first, and the labels in their order (a label's
//! index is its class). The dev split (`dev_matched.tsv` for MNLI) serves as the test split.
//!
//! Rows are split at tabs with no quote handling: GLUE's sentences contain `"`. A row that
//! lacks a column, or whose label is not one of the task's, is an error naming the file, the
//! line and the column, never a row silently left out.

use crate::error::{Error, Result};
use std::path::Path;

/// One of GLUE's tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    /// The Corpus of Linguistic Acceptability: one sentence, acceptable or not.
    Cola,
    /// The Stanford Sentiment Treebank: one sentence, negative or positive.
    Sst2,
    /// The Microsoft Research Paraphrase Corpus: a pair, paraphrase or not.
    Mrpc,
    /// The Semantic Textual Similarity Benchmark: a pair and its similarity from 0 to 5.
    Stsb,
    /// Quora Question Pairs: a pair of questions, duplicates or not.
    Qqp,
    /// MultiNLI: a premise and a hypothesis, entailed, contradicted or neither.
    Mnli,
    /// Question NLI: a question and a sentence that answers it or not.
    Qnli,
    /// Recognising Textual Entailment: a pair, entailment or not.
    Rte,
    /// Winograd NLI: a pair, entailment or not.
    Wnli,
}

/// Where a field lies in a row: counted from its start, or from its end (MNLI's label is the
/// last column, whose index differs between its train and dev files).
#[derive(Clone, Copy, Debug)]
enum Column {
    At(usize),
    Last,
}

/// How a task's files are laid out.
struct Layout {
    header: bool,
    a: Column,
    b: Option<Column>,
    label: Column,
}

/// A task's label for one example.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Label {
    /// The index of a classification task's label in [`Task::labels`].
    Class(u32),
    /// STS-B's similarity score.
    Score(f32),
}

/// One row of a task's file.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The first (or only) sentence.
    pub a: String,
    /// The second sentence of a pair task.
    pub b: Option<String>,
    /// Its label.
    pub label: Label,
}

impl Task {
    /// Every task, in GLUE's order.
    pub const ALL: [Task; 9] = [
        Task::Cola,
        Task::Sst2,
        Task::Mrpc,
        Task::Stsb,
        Task::Qqp,
        Task::Mnli,
        Task::Qnli,
        Task::Rte,
        Task::Wnli,
    ];

    /// The task's name, as `--task` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Task::Cola => "cola",
            Task::Sst2 => "sst2",
            Task::Mrpc => "mrpc",
            Task::Stsb => "stsb",
            Task::Qqp => "qqp",
            Task::Mnli => "mnli",
            Task::Qnli => "qnli",
            Task::Rte => "rte",
            Task::Wnli => "wnli",
        }
    }

    /// The task `name` names; an error listing them otherwise.
    pub fn named(name: &str) -> Result<Task> {
        Task::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Task::ALL.iter().map(|t| t.name()).collect();
                Error::Invalid(format!(
                    "--task {name}: not a GLUE task; the tasks are {}",
                    names.join(", ")
                ))
            })
    }

    /// A classification task's labels as its files spell them, in class order (Hugging
    /// Face's); `None` for STS-B, a regression.
    pub fn labels(self) -> Option<&'static [&'static str]> {
        match self {
            Task::Stsb => None,
            Task::Mnli => Some(&["contradiction", "entailment", "neutral"]),
            Task::Qnli | Task::Rte => Some(&["entailment", "not_entailment"]),
            _ => Some(&["0", "1"]),
        }
    }

    /// The classifier's outputs: one per label, or one score for STS-B.
    pub fn outputs(self) -> usize {
        self.labels().map_or(1, <[_]>::len)
    }

    /// Whether each example is a pair of sentences.
    pub fn pairs(self) -> bool {
        self.layout().b.is_some()
    }

    /// The file of the split that serves as the test split.
    pub fn dev_file(self) -> &'static str {
        match self {
            Task::Mnli => "dev_matched.tsv",
            _ => "dev.tsv",
        }
    }

    fn layout(self) -> Layout {
        use Column::{At, Last};
        let pair = |a, b, label| Layout {
            header: true,
            a: At(a),
            b: Some(At(b)),
            label,
        };
        match self {
            // CoLA alone has no header: source, label, original label, sentence.
            Task::Cola => Layout {
                header: false,
                a: At(3),
                b: None,
                label: At(1),
            },
            Task::Sst2 => Layout {
                header: true,
                a: At(0),
                b: None,
                label: At(1),
            },
            // Quality, #1 ID, #2 ID, #1 String, #2 String.
            Task::Mrpc => pair(3, 4, At(0)),
            // index, genre, filename, year, old_index, source1, source2, sentence1, sentence2,
            // score.
            Task::Stsb => pair(7, 8, Last),
            // id, qid1, qid2, question1, question2, is_duplicate.
            Task::Qqp => pair(3, 4, At(5)),
            // index, promptID, pairID, genre, four parses, sentence1, sentence2, the
            // annotators' labels (one in train, five in dev), gold_label.
            Task::Mnli => pair(8, 9, Last),
            // index, question or sentence1, sentence, sentence2, label.
            Task::Qnli | Task::Rte | Task::Wnli => pair(1, 2, Last),
        }
    }

    /// The examples of one of the task's files, whose text is `text` (`file` names it in
    /// errors).
    pub fn parse(self, text: &str, file: &Path) -> Result<Vec<Example>> {
        let layout = self.layout();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines: Vec<&str> = text.split('\n').collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        let skip = usize::from(layout.header);
        let mut out = Vec::with_capacity(lines.len().saturating_sub(skip));
        for (i, line) in lines.iter().enumerate().skip(skip) {
            let fields: Vec<&str> = line
                .strip_suffix('\r')
                .unwrap_or(line)
                .split('\t')
                .collect();
            // A label counted from the end must still follow both sentences.
            let after = [Some(layout.a), layout.b]
                .into_iter()
                .flatten()
                .map(|c| match c {
                    Column::At(k) => k + 1,
                    Column::Last => 0,
                })
                .max()
                .unwrap_or(0);
            let at = |name: &str, c: Column| -> Result<(usize, &str)> {
                let k = match c {
                    Column::At(k) => k,
                    Column::Last => (fields.len() - 1).max(after),
                };
                fields.get(k).map(|f| (k, *f)).ok_or_else(|| {
                    let file_name = file
                        .file_name()
                        .map_or(String::new(), |f| f.to_string_lossy().into_owned());
                    Error::data(
                        file,
                        format!(
                            "line {}, column {}: no {name}: the row has {} tab-separated \
                             columns, and {}'s {file_name} holds its {name} in column {}; \
                             check that the file is GLUE's own",
                            i + 1,
                            k + 1,
                            fields.len(),
                            self.name(),
                            k + 1
                        ),
                    )
                })
            };
            let (_, a) = at("first sentence", layout.a)?;
            let b = match layout.b {
                Some(c) => Some(at("second sentence", c)?.1.to_string()),
                None => None,
            };
            let (k, raw) = at("label", layout.label)?;
            let label = self.label(raw).ok_or_else(|| {
                let expected = match self.labels() {
                    Some(l) => format!("one of {}", l.join(", ")),
                    None => "a number".into(),
                };
                Error::data(
                    file,
                    format!(
                        "line {}, column {}: label {raw:?} is not {}'s: expected {expected}",
                        i + 1,
                        k + 1,
                        self.name()
                    ),
                )
            })?;
            out.push(Example {
                a: a.to_string(),
                b,
                label,
            });
        }
        Ok(out)
    }

    /// The label `raw` stands for, if it is one of the task's.
    fn label(self, raw: &str) -> Option<Label> {
        match self.labels() {
            Some(labels) => labels
                .iter()
                .position(|l| *l == raw)
                .map(|i| Label::Class(i as u32)),
            None => raw
                .trim()
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Label::Score),
        }
    }

    /// The training and dev examples in `dir` (`train.tsv` and [`Task::dev_file`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(self, dir: &Path) -> Result<(Vec<Example>, Vec<Example>)> {
        let read = |name: &str| -> Result<Vec<Example>> {
            let file = dir.join(name);
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Error::data(
                    &file,
                    format!(
                        "cannot read it ({e}); --data must be a folder holding {}'s train.tsv \
                         and {}, as GLUE distributes them",
                        self.name(),
                        self.dev_file()
                    ),
                )
            })?;
            self.parse(&text, &file)
        };
        Ok((read("train.tsv")?, read(self.dev_file())?))
    }
}
