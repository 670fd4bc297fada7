#![cfg(not(target_arch = "wasm32"))]
//! The README and the book (`docs/src/`) against the code they describe: every link resolves
//! (to a page of the book, from a page of the book, so the built book has no dead link), every
//! page is in `SUMMARY.md`, every `sampa` command names subcommands and flags that `sampa
//! --help` knows, and the README's commands that finish in seconds run as written.
//!
//! The checks are functions over text, so the last tests feed them a broken link and an
//! unknown flag and expect them to be caught: a checker that cannot fail would pass anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn book() -> PathBuf {
    root().join("docs/src")
}

/// A Markdown file: the README (links may reach any file of the repository) or a page of the
/// book (links must stay in the book).
struct Doc {
    path: PathBuf,
    text: String,
}

impl Doc {
    fn read(path: PathBuf) -> Doc {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Doc { path, text }
    }

    fn in_book(&self) -> bool {
        self.path.starts_with(book())
    }

    fn name(&self) -> String {
        self.path
            .strip_prefix(root())
            .unwrap_or(&self.path)
            .display()
            .to_string()
    }
}

fn all_docs() -> Vec<Doc> {
    let mut paths = vec![root().join("README.md")];
    paths.extend(common::files_with_extension(&book(), "md"));
    paths.into_iter().map(Doc::read).collect()
}

/// One line of a document with its number, outside or inside a fenced code block.
struct Line<'a> {
    number: usize,
    text: &'a str,
    code: bool,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, text) in text.lines().enumerate() {
        if text.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        out.push(Line {
            number: i + 1,
            text,
            code: fenced,
        });
    }
    out
}

/// The prose of a line with its inline code spans blanked, and the spans.
fn split_spans(text: &str) -> (String, Vec<&str>) {
    let mut prose = String::new();
    let mut spans = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        prose.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('`') {
            Some(close) => {
                spans.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => {
                rest = after;
                break;
            }
        }
    }
    prose.push_str(rest);
    (prose, spans)
}

/// Every Markdown link target (`[text](target)` and images) in prose, by line.
fn links(doc: &Doc) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for line in lines(&doc.text).iter().filter(|l| !l.code) {
        let (prose, _) = split_spans(line.text);
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            out.push((line.number, after[..end].trim().to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// The anchor mdBook gives a heading: lower case, spaces to `-`, other punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    lines(text)
        .iter()
        .filter(|l| !l.code && l.text.starts_with('#'))
        .map(|l| slug(l.text.trim_start_matches('#')))
        .collect()
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// What is wrong with each link of `doc` that does not lead where it says.
fn broken_links(doc: &Doc) -> Vec<String> {
    let dir = doc.path.parent().expect("a file has a directory");
    let mut out = Vec::new();
    for (line, target) in links(doc) {
        if target.starts_with("http://")
            || target.starts_with("https://")
            || target.starts_with("mailto:")
        {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((f, a)) => (f, Some(a)),
            None => (target.as_str(), None),
        };
        let path = if file.is_empty() {
            doc.path.clone()
        } else {
            normal(&dir.join(file))
        };
        let at = format!("{}:{line}: link {target:?}", doc.name());
        if doc.in_book() && !path.starts_with(book()) {
            out.push(format!(
                "{at} leaves the book (docs/src/), so the built book cannot follow it; \
                 name the file as code instead"
            ));
        } else if !path.exists() {
            out.push(format!("{at}: no file {}", path.display()));
        } else if let Some(anchor) = anchor {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if !anchors(&text).contains(anchor) {
                out.push(format!("{at}: no heading with the anchor #{anchor}"));
            }
        }
    }
    for line in lines(&doc.text) {
        if let Some(inc) = line.text.trim().strip_prefix("{{#include ") {
            let file = inc.trim_end_matches("}}").trim();
            if !dir.join(file).exists() {
                out.push(format!(
                    "{}:{}: includes {file}, which does not exist",
                    doc.name(),
                    line.number
                ));
            }
        }
    }
    out
}

/// One `sampa` command as written: where, and its words after the program.
#[derive(Debug)]
struct Invocation {
    at: String,
    words: Vec<String>,
    /// In a fenced block of the README, where it could be run as written.
    fenced: bool,
}

fn is_program(word: &str) -> bool {
    word == "sampa" || word.ends_with("/sampa")
}

/// The commands in one shell line or code span: each `sampa` word starts one, which ends at a
/// pipe, a separator or a redirection.
fn invocations_in(at: &str, text: &str, fenced: bool, out: &mut Vec<Invocation>) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        if is_program(words[i]) {
            let mut args = Vec::new();
            i += 1;
            while i < words.len() && ![":", "|", ";", "&&", "||", ">", "2>&1"].contains(&words[i]) {
                args.push(words[i].to_string());
                i += 1;
            }
            out.push(Invocation {
                at: at.to_string(),
                words: args,
                fenced,
            });
        } else {
            i += 1;
        }
    }
}

/// Every `sampa` command of a document: shell lines in fenced blocks (continuations joined,
/// comments dropped) that start with the program or with `mpirun`, and code spans in prose
/// that start with it.
fn invocations(doc: &Doc) -> Vec<Invocation> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for line in lines(&doc.text) {
        if line.code {
            let text = match line.text.find(" #") {
                Some(c) => &line.text[..c],
                None => line.text,
            };
            if pending.is_empty() {
                start = line.number;
            }
            pending.push_str(text.trim_end().trim_end_matches('\\'));
            pending.push(' ');
            if text.trim_end().ends_with('\\') {
                continue;
            }
            let first = pending.split_whitespace().next().unwrap_or("");
            if is_program(first) || first == "mpirun" {
                let at = format!("{}:{start}", doc.name());
                invocations_in(&at, &pending, true, &mut out);
            }
            pending.clear();
        } else {
            for span in split_spans(line.text).1 {
                if span.split_whitespace().next().is_some_and(is_program) {
                    let at = format!("{}:{}", doc.name(), line.number);
                    invocations_in(&at, span, false, &mut out);
                }
            }
        }
    }
    out
}

/// `sampa [path] --help`, parsed: its subcommands and every flag it names.
struct Help {
    commands: BTreeSet<String>,
    flags: BTreeSet<String>,
    /// The flags its usage line requires (outside brackets).
    required: Vec<String>,
}

fn help<'a>(path: &[String], cache: &'a mut BTreeMap<Vec<String>, Help>) -> &'a Help {
    cache.entry(path.to_vec()).or_insert_with(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_sampa"))
            .args(path)
            .arg("--help")
            .output()
            .expect("the sampa binary runs");
        assert!(
            out.status.success(),
            "sampa {} --help failed: {}",
            path.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut commands = BTreeSet::new();
        let mut in_commands = false;
        for line in text.lines() {
            if line.starts_with("Commands:") {
                in_commands = true;
            } else if line.trim().is_empty() || !line.starts_with(' ') {
                in_commands = false;
            } else if in_commands && let Some(name) = line.split_whitespace().next() {
                commands.insert(name.to_string());
            }
        }
        let flags = text
            .split(|c: char| !(c.is_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(str::to_string)
            .collect();
        // `Usage: sampa sweep [OPTIONS] --out <OUT> [-- <TRAIN>...]`: --out is required.
        let usage = text.lines().find(|l| l.starts_with("Usage:")).unwrap_or("");
        let mut depth = 0;
        let mut required = Vec::new();
        for word in usage.split_whitespace() {
            if depth == 0 && word.starts_with("--") && word.len() > 2 {
                required.push(word.to_string());
            }
            depth += word.matches('[').count();
            depth -= word.matches(']').count().min(depth);
        }
        Help {
            commands,
            flags,
            required,
        }
    })
}

/// What `sampa --help` does not know in a command: an unknown subcommand or flag.
fn unknown_words(inv: &Invocation, cache: &mut BTreeMap<Vec<String>, Help>) -> Vec<String> {
    let mut path: Vec<String> = Vec::new();
    let mut words = inv.words.iter().peekable();
    while let Some(word) = words.peek() {
        let h = help(&path, cache);
        if word.starts_with('-') || h.commands.is_empty() {
            break;
        }
        if !h.commands.contains(word.as_str()) {
            return vec![format!(
                "{}: `sampa {}` has no subcommand {word:?}",
                inv.at,
                path.join(" ")
            )];
        }
        path.push(words.next().expect("peeked").clone());
    }
    let mut out = Vec::new();
    let given: Vec<&str> = inv
        .words
        .iter()
        .map(|w| w.split('=').next().unwrap_or(""))
        .collect();
    // A bare `sampa eval` in prose names the command; one with arguments is an invocation.
    if inv.words.len() > path.len() && !given.contains(&"--help") {
        for flag in &help(&path, cache).required {
            if !given.contains(&flag.as_str()) {
                out.push(format!(
                    "{}: `sampa {}` needs {flag}, which the command lacks",
                    inv.at,
                    path.join(" ")
                ));
            }
        }
    }
    let mut current = path.clone();
    for word in words {
        // `sampa sweep ... -- <train flags>`: what follows the separator is sampa train's.
        if word == "--" {
            current = vec!["train".to_string()];
            continue;
        }
        let flag = word
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split('=')
            .next()
            .unwrap_or("");
        if flag.starts_with("--") && !help(&current, cache).flags.contains(flag) {
            out.push(format!(
                "{}: `sampa {}` knows no flag {flag}",
                inv.at,
                current.join(" ")
            ));
        }
    }
    out
}

#[test]
fn every_link_of_the_readme_and_the_book_resolves() {
    let broken: Vec<String> = all_docs().iter().flat_map(broken_links).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_page_of_the_book_is_in_its_summary() {
    let summary = Doc::read(book().join("SUMMARY.md"));
    let listed: BTreeSet<PathBuf> = links(&summary)
        .into_iter()
        .map(|(_, t)| normal(&book().join(t)))
        .collect();
    let all = common::files_with_extension(&book(), "md");
    let missing: Vec<String> = all
        .iter()
        .filter(|p| !p.ends_with("SUMMARY.md") && !listed.contains(*p))
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "pages missing from docs/src/SUMMARY.md: {missing:?}"
    );
}

#[test]
fn every_sampa_command_in_the_readme_and_the_book_is_one_sampa_knows() {
    let mut cache = BTreeMap::new();
    let docs = all_docs();
    let all: Vec<Invocation> = docs.iter().flat_map(invocations).collect();
    assert!(
        all.len() > 50,
        "found only {} sampa commands in the README and the book; the extraction is broken",
        all.len()
    );
    let unknown: Vec<String> = all
        .iter()
        .flat_map(|inv| unknown_words(inv, &mut cache))
        .collect();
    assert!(unknown.is_empty(), "{}", unknown.join("\n"));
}

/// A README command that takes minutes, needs data or a server that is not here, or runs in
/// a terminal until stopped; the rest run as written.
fn slow_or_elsewhere(inv: &Invocation) -> bool {
    let first = inv.words.first().map(String::as_str).unwrap_or("");
    ["bench", "sweep", "serve"].contains(&first)
        || inv
            .words
            .iter()
            .any(|w| w.contains('~') || w.contains('<') || w.contains("/path/"))
}

#[test]
fn the_readmes_fast_commands_run_as_written() {
    let readme = Doc::read(root().join("README.md"));
    let runnable: Vec<Invocation> = invocations(&readme)
        .into_iter()
        .filter(|inv| inv.fenced && !slow_or_elsewhere(inv))
        .collect();
    assert!(
        runnable.len() >= 5,
        "the README's tour should have commands that run here, found {runnable:?}"
    );
    let dir = tempfile_dir();
    for inv in &runnable {
        let start = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_sampa"))
            .args(&inv.words)
            .current_dir(&dir)
            .env_remove("SAMPA_ADAPTER")
            .output()
            .expect("the sampa binary runs");
        assert!(
            out.status.success(),
            "{}: `sampa {}` failed:\n{}{}",
            inv.at,
            inv.words.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "{}: `sampa {}` ran in {:.1} s",
            inv.at,
            inv.words.join(" "),
            start.elapsed().as_secs_f64()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sampa-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// A document written here, in a folder of the book or beside the README.
fn fake(relative: &str, text: &str) -> Doc {
    Doc {
        path: root().join(relative),
        text: text.to_string(),
    }
}

#[test]
fn the_checks_catch_a_broken_link_and_an_unknown_flag() {
    let page = fake(
        "docs/src/guide/fake.md",
        "See [models](models.md), [gone](no-such-page.md), [the README](../../README.md) \
         and [a heading](models.md#no-such-heading); `[not a link](nowhere.md)` is code.\n",
    );
    let broken = broken_links(&page);
    assert_eq!(broken.len(), 3, "{broken:#?}");
    assert!(broken[0].contains("no-such-page.md"), "{broken:#?}");
    assert!(broken[1].contains("leaves the book"), "{broken:#?}");
    assert!(broken[2].contains("#no-such-heading"), "{broken:#?}");

    let page = fake(
        "docs/src/guide/fake.md",
        "```sh\nsampa train --epochs 1 \\\n    --no-such-flag 3   # a comment --not-a-flag\n\
         sampa trian\nmpirun -np 2 target/release/sampa train --schedule mpi\n```\n\
         Prose with `sampa sweep --out s --seeds 0 -- --also-not-a-flag`, `sampa eval --model F` \
         and `sampa sweep --seeds 0`.\n",
    );
    let mut cache = BTreeMap::new();
    let unknown: Vec<String> = invocations(&page)
        .iter()
        .flat_map(|inv| unknown_words(inv, &mut cache))
        .collect();
    assert_eq!(unknown.len(), 4, "{unknown:#?}");
    assert!(unknown[0].contains("--no-such-flag"), "{unknown:#?}");
    assert!(unknown[1].contains("\"trian\""), "{unknown:#?}");
    assert!(unknown[2].contains("--also-not-a-flag"), "{unknown:#?}");
    assert!(unknown[3].contains("needs --out"), "{unknown:#?}");
}
