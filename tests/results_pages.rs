#![cfg(not(target_arch = "wasm32"))]
//! The book's results pages and the README's figures, generated from the reports in
//! `results/`, and held to them.
//!
//! Each folder of `results/` (named by date and adapter) becomes a page: its README's prose,
//! then every JSON report in it as tables (benchmark reports through `bench::markdown`, sweep
//! summaries through `Summary::markdown`, other records as plain tables), each naming the file
//! it comes from, with the charts the library draws for it. The README's figures table is
//! picked from those reports by [`FIGURES`]. `scripts/results-pages` runs this file with
//! `SAMPA_WRITE_RESULTS_PAGES=1`, which writes the pages; otherwise the tests fail when a
//! committed page or the README differs from what the reports give.

use sampa::bench::schema::Report;
use sampa::sweep::summary::Summary;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages_dir() -> PathBuf {
    root().join("docs/src/results")
}

fn writing() -> bool {
    std::env::var("SAMPA_WRITE_RESULTS_PAGES").is_ok_and(|v| v == "1")
}

/// One figure the README quotes: where in which report, and how to show it.
struct Figure {
    what: &'static str,
    /// Under `results/`.
    file: &'static str,
    /// A path into the JSON: object keys, array indices, or `[k=v,k=v]` for the element of an
    /// array whose fields match.
    value: &'static str,
    /// The same for the adapter's description, or a literal after `=`.
    adapter: &'static str,
    decimals: usize,
    unit: &'static str,
}

const FIGURES: &[Figure] = &[
    Figure {
        what: "SAMPa-0.2 step / SAM step, `dual`, MLP batch 128",
        file: "2026-12-05-lavapipe-bench/steps-one-thread.json",
        value: "results/[case=mlp b128 SAMPa-0.2 dual with #1,adapter=0]/extra/sampa_over_sam",
        adapter: "=llvmpipe Vulkan + GL worker, one thread each, Mesa 22.3.6",
        decimals: 2,
        unit: "",
    },
    Figure {
        what: "SAMPa-0.2 step / SAM step, `dual`, CNN batch 32",
        file: "2026-12-05-lavapipe-bench/steps-one-thread.json",
        value: "results/[case=cnn b32 SAMPa-0.2 dual with #1,adapter=0]/extra/sampa_over_sam",
        adapter: "=llvmpipe Vulkan + GL worker, one thread each, Mesa 22.3.6",
        decimals: 2,
        unit: "",
    },
    Figure {
        what: "SAMPa-0.2 step / SAM step, `fused` on one adapter, MLP batch 128",
        file: "2026-12-05-lavapipe-bench/bench.json",
        value: "results/[case=mlp b128 SAMPa-0.2 fused,adapter=0]/extra/sampa_over_sam",
        adapter: "=llvmpipe Vulkan, Mesa 22.3.6",
        decimals: 2,
        unit: "",
    },
    Figure {
        what: "SGD step, MLP 784-256-256-10, batch 128",
        file: "2026-12-04-h200-vulkan/step.json",
        value: "[model=mlp 784-256-256-10]/step_ms",
        adapter: "[model=mlp 784-256-256-10]/adapter",
        decimals: 2,
        unit: " ms",
    },
    Figure {
        what: "... PyTorch's, CUDA, TF32 off",
        file: "2026-12-04-h200-vulkan/torch-step.json",
        value: "results/[case=mlp b128 SGD serial,adapter=0]/host/median",
        adapter: "adapters/0/name",
        decimals: 2,
        unit: " ms",
    },
    Figure {
        what: "SGD step, ResNet-20, batch 128",
        file: "2026-12-04-h200-vulkan/step.json",
        value: "[model=resnet20 3×32×32→10]/step_ms",
        adapter: "[model=resnet20 3×32×32→10]/adapter",
        decimals: 1,
        unit: " ms",
    },
    Figure {
        what: "... PyTorch's, CUDA, TF32 off",
        file: "2026-12-04-h200-vulkan/torch-step.json",
        value: "results/[case=resnet20 b128 SGD serial,adapter=0]/host/median",
        adapter: "adapters/0/name",
        decimals: 1,
        unit: " ms",
    },
    Figure {
        what: "device memory of a DenseNet-121 training step, batch 128, 32×32",
        file: "2026-12-05-lavapipe-model-memory/memory.json",
        value: "models/[model=densenet121]/device_mib",
        adapter: "adapter",
        decimals: 0,
        unit: " MiB",
    },
];

/// Follow `path` into `v`.
fn pick<'a>(v: &'a Value, path: &str, file: &str) -> &'a Value {
    let mut at = v;
    for seg in path.split('/') {
        at = if let Some(cond) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let tests: Vec<(&str, &str)> = cond
                .split(',')
                .map(|kv| kv.split_once('=').expect("k=v"))
                .collect();
            at.as_array()
                .unwrap_or_else(|| panic!("{file}: {seg} needs an array"))
                .iter()
                .find(|e| {
                    tests.iter().all(|(k, want)| match &e[*k] {
                        Value::String(s) => s == want,
                        other => other.to_string().as_str() == *want,
                    })
                })
                .unwrap_or_else(|| panic!("{file}: no element {seg}"))
        } else if let Ok(i) = seg.parse::<usize>() {
            &at[i]
        } else {
            &at[seg]
        };
        assert!(!at.is_null(), "{file}: nothing at {path} ({seg})");
    }
    at
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The figures table, as the README and the results index show it.
fn figures_table() -> String {
    let mut s =
        String::from("| figure | value | adapter | date | report |\n|---|---|---|---|---|\n");
    for f in FIGURES {
        let path = root().join("results").join(f.file);
        let json = read_json(&path);
        let value = pick(&json, f.value, f.file)
            .as_f64()
            .unwrap_or_else(|| panic!("{}: {} is not a number", f.file, f.value));
        let adapter = match f.adapter.strip_prefix('=') {
            Some(literal) => literal.to_string(),
            None => pick(&json, f.adapter, f.file)
                .as_str()
                .expect("an adapter string")
                .replace('"', ""),
        };
        let date = &f.file[..10];
        let _ = writeln!(
            s,
            "| {} | {:.*}{} | {} | {} | `results/{}` |",
            f.what, f.decimals, value, f.unit, adapter, date, f.file
        );
    }
    s
}

/// Headings one level down, so a report's `#` sits under the page's.
fn demote(md: &str) -> String {
    md.lines()
        .map(|l| {
            if l.starts_with('#') {
                format!("##{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.replace('|', "\\|"),
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() => sampa::bench::markdown::fig(x),
            _ => n.to_string(),
        },
        other => other.to_string().replace('|', "\\|"),
    }
}

/// An array of flat records as a table, one column per key in first-seen order.
fn records_table(rows: &[Value]) -> Option<String> {
    let mut keys: Vec<String> = Vec::new();
    for r in rows {
        for (k, v) in r.as_object()? {
            if v.is_array() || v.is_object() {
                continue;
            }
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let mut s = format!("| {} |\n|{}\n", keys.join(" | "), "---|".repeat(keys.len()));
    for r in rows {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| r.get(k).map_or(String::new(), cell))
            .collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    Some(s)
}

/// Any other JSON record: its scalar fields as a list, its arrays of records as tables.
fn generic(v: &Value) -> String {
    match v {
        Value::Array(rows) => records_table(rows).unwrap_or_else(|| format!("`{v}`\n")),
        Value::Object(map) => {
            let mut s = String::new();
            for (k, x) in map {
                if !x.is_array() && !x.is_object() {
                    let _ = writeln!(s, "- {k}: {}", cell(x));
                }
            }
            for (k, x) in map {
                if let Value::Array(rows) = x
                    && let Some(t) = records_table(rows)
                {
                    let _ = write!(s, "\n`{k}`:\n\n{t}");
                }
            }
            s
        }
        other => format!("`{other}`\n"),
    }
}

/// What one results folder's page says, and the charts to draw for it.
struct Page {
    name: String,
    title: String,
    markdown: String,
    charts: Vec<Chart>,
}

enum Chart {
    Bench(Box<Report>, PathBuf),
    Sweep(Summary, PathBuf),
}

fn page(dir: &Path) -> Page {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap_or_else(|e| {
        panic!("results/{name}/README.md: {e}; every results folder says what it holds")
    });
    let (title, body) = readme.split_once('\n').unwrap_or((&readme, ""));
    let title = title.trim_start_matches('#').trim().to_string();
    let mut md = format!(
        "# {title}\n\n<!-- written by scripts/results-pages from results/{name}/; do not edit -->\n\n\
         From the folder `results/{name}/`.\n{}\n",
        demote(body)
    );
    let mut charts = Vec::new();
    for file in common::files_with_extension(dir, "json") {
        let rel = file.strip_prefix(root().join("results")).unwrap();
        let rel = rel.display().to_string();
        let stem = file
            .strip_prefix(dir)
            .unwrap()
            .display()
            .to_string()
            .trim_end_matches(".json")
            .replace('/', "-");
        let text = std::fs::read_to_string(&file).unwrap();
        let _ = write!(md, "\n## `{rel}`\n\nFrom the report `results/{rel}`.\n\n");
        if let Ok(report) = Report::parse(&text) {
            let _ = writeln!(md, "{}\n", demote(&sampa::bench::markdown::render(&report)));
            let chart_dir = PathBuf::from(&name).join(&stem);
            for png in bench_charts(&report) {
                let _ = writeln!(md, "![{png} of {rel}]({}/{png})\n", chart_dir.display());
            }
            charts.push(Chart::Bench(Box::new(report), chart_dir));
        } else if let Ok(summary) = serde_json::from_str::<Summary>(&text) {
            let _ = writeln!(md, "{}\n", demote(&summary.markdown()));
            let png = PathBuf::from(&name).join(format!("{stem}.png"));
            let _ = writeln!(md, "![test accuracy per epoch, {rel}]({})\n", png.display());
            charts.push(Chart::Sweep(summary, png));
        } else {
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("results/{rel}: not JSON: {e}"));
            let _ = writeln!(md, "{}", generic(&json));
        }
    }
    Page {
        name,
        title,
        markdown: md,
        charts,
    }
}

/// The charts `bench::charts::write` draws for a report, by the same rule.
fn bench_charts(report: &Report) -> Vec<&'static str> {
    let has = |suite: &str| {
        report
            .results
            .iter()
            .any(|r| r.suite == suite && r.host.is_some())
    };
    let mut out = Vec::new();
    if has("matmul") {
        out.push("matmul.png");
    }
    if has("step") {
        out.push("steps.png");
    }
    out
}

fn all_pages() -> Vec<Page> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("results"))
        .expect("results/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    // Newest first: the folders are named by date.
    dirs.sort();
    dirs.reverse();
    dirs.iter().map(|d| page(d)).collect()
}

fn index(pages: &[Page]) -> String {
    let mut s = String::from(
        "# Results\n\n<!-- written by scripts/results-pages; do not edit -->\n\n\
         Every figure here comes from a report in the repository's `results/` folder, one folder \
         per measurement, named by date and adapter. `scripts/results-pages` writes these pages \
         from them.\n\n## Figures\n\nThe figures the README quotes, from the reports they \
         name:\n\n",
    );
    s.push_str(&figures_table());
    s.push_str("\n## Reports, newest first\n\n");
    for p in pages {
        let _ = writeln!(s, "- [{}]({}.md)", p.title, p.name);
    }
    s
}

/// Replace what lies between two marker lines of `text`.
fn between(text: &str, open: &str, close: &str, new: &str) -> String {
    let a = text
        .find(open)
        .unwrap_or_else(|| panic!("no marker {open:?}"))
        + open.len();
    let b = text[a..]
        .find(close)
        .unwrap_or_else(|| panic!("no marker {close:?}"))
        + a;
    format!("{}\n{}{}", &text[..a], new, &text[b..])
}

fn readme(current: &str) -> String {
    between(
        current,
        "<!-- figures: written by scripts/results-pages -->",
        "<!-- end of figures -->",
        &figures_table(),
    )
}

fn summary(current: &str, pages: &[Page]) -> String {
    let list: String = pages
        .iter()
        .map(|p| format!("  - [{}](results/{}.md)\n", p.title, p.name))
        .collect();
    between(
        current,
        "<!-- results pages: written by scripts/results-pages -->",
        "<!-- end of results pages -->",
        &list,
    )
}

/// Each generated file with what it should hold.
fn expected() -> (Vec<Page>, Vec<(PathBuf, String)>) {
    let pages = all_pages();
    let mut files = vec![(pages_dir().join("index.md"), index(&pages))];
    for p in &pages {
        files.push((
            pages_dir().join(format!("{}.md", p.name)),
            p.markdown.clone(),
        ));
    }
    let readme_path = root().join("README.md");
    files.push((
        readme_path.clone(),
        readme(&std::fs::read_to_string(&readme_path).unwrap()),
    ));
    let summary_path = root().join("docs/src/SUMMARY.md");
    files.push((
        summary_path.clone(),
        summary(&std::fs::read_to_string(&summary_path).unwrap(), &pages),
    ));
    (pages, files)
}

#[test]
fn the_results_pages_and_the_readmes_figures_match_the_reports() {
    let (pages, files) = expected();
    if writing() {
        std::fs::create_dir_all(pages_dir()).unwrap();
        for (path, text) in &files {
            std::fs::write(path, text).unwrap();
        }
        for page in &pages {
            for chart in &page.charts {
                match chart {
                    Chart::Bench(report, dir) => {
                        sampa::bench::charts::write(report, &pages_dir().join(dir)).unwrap();
                    }
                    Chart::Sweep(summary, png) => {
                        let path = pages_dir().join(png);
                        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                        sampa::sweep::plot::bands(&summary.settings, &path).unwrap();
                    }
                }
            }
        }
        return;
    }
    let stale: Vec<String> = files
        .iter()
        .filter(|(path, text)| std::fs::read_to_string(path).ok().as_deref() != Some(text))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        stale.is_empty(),
        "these differ from what results/ gives; run scripts/results-pages and commit: {stale:?}"
    );
    // Every chart a page shows is there, and no page is left from a folder that is gone.
    for page in &pages {
        for line in page.markdown.lines() {
            if let Some(target) = line.split("](").nth(1) {
                let target = target.trim_end_matches(')');
                assert!(
                    pages_dir().join(target).exists(),
                    "{}: chart {target} is missing; run scripts/results-pages",
                    page.name
                );
            }
        }
    }
    let names: Vec<String> = pages.iter().map(|p| format!("{}.md", p.name)).collect();
    for entry in std::fs::read_dir(pages_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".md") && name != "index.md" {
            assert!(
                names.contains(&name),
                "docs/src/results/{name} has no folder in results/ any more"
            );
        }
    }
}

#[test]
fn a_figure_follows_its_report() {
    // The table reads the values from the files: a changed report changes the figure.
    let json: Value = serde_json::json!({"results": [
        {"case": "a", "adapter": 0, "extra": {"r": 0.5}},
        {"case": "a", "adapter": 1, "extra": {"r": 0.75}}
    ]});
    let v = pick(&json, "results/[case=a,adapter=1]/extra/r", "test");
    assert_eq!(v.as_f64(), Some(0.75));
    let table = figures_table();
    assert_eq!(table.lines().count(), FIGURES.len() + 2, "{table}");
    let path = root().join("results").join(FIGURES[0].file);
    let value = pick(&read_json(&path), FIGURES[0].value, "")
        .as_f64()
        .unwrap();
    assert!(table.contains(&format!("{value:.2}")), "{table}");
}
