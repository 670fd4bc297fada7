//! The whole suite: every part on every adapter (or `--adapter A,B`), with a progress bar,
//! then the report as a table here and as JSON, Markdown and charts where asked.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sampa::bench::plan::MODELS;
use sampa::bench::plan::{PARTS, Settings};
use sampa::bench::{Report, charts, host, markdown, suite};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct SuiteArgs {
    /// Adapters to run on (comma list, each an index, backend or name substring as in
    /// `sampa devices`); default: every adapter.
    #[arg(long, value_delimiter = ',')]
    adapter: Vec<String>,
    /// The short suite: fewer sizes and samples, the CNN at batch 32 (about a minute per
    /// adapter on a CPU rasteriser).
    #[arg(long)]
    quick: bool,
    /// Only these parts (comma list).
    #[arg(long, value_delimiter = ',', value_parser = PARTS)]
    only: Vec<String>,
    /// Square matmul sizes (default 128,256,512, and 1024 without --quick).
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Models for the step cases (default mlp,cnn, and resnet20 without --quick).
    #[arg(long, value_delimiter = ',', value_parser = MODELS)]
    models: Vec<String>,
    /// Seconds after which no further group of cases starts; those left are recorded as not
    /// run. The JSON and Markdown files are rewritten after every group either way, so a run
    /// that is killed keeps what it finished.
    #[arg(long, value_name = "SECONDS")]
    budget: Option<f64>,
    /// Write the report as JSON (schema in docs/src/design/bench-schema.md).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the report as Markdown.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Write PNG charts into this directory.
    #[arg(long)]
    plot: Option<PathBuf>,
}

impl SuiteArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = Settings::new(self.quick);
        if !self.only.is_empty() {
            s.parts = self.only.clone();
        }
        if !self.sizes.is_empty() {
            if let Some(bad) = self.sizes.iter().find(|&&n| n == 0) {
                anyhow::bail!("--sizes: {bad} is not a size; give positive sizes such as 128,256");
            }
            s.sizes = self.sizes.clone();
        }
        if !self.models.is_empty() {
            s.models = self.models.clone();
        }
        if let Some(b) = self.budget {
            if !(b.is_finite() && b > 0.0) {
                anyhow::bail!("--budget must be a positive number of seconds, got {b}");
            }
            s.budget_s = Some(b);
        }
        Ok(s)
    }
}

pub fn run(args: SuiteArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    let gpus = suite::open(&args.adapter)?;
    let mut report = host::empty_report(settings.quick);
    for gpu in &gpus {
        sampa::outln!(
            "adapter {} (driver {})",
            gpu.adapter.short(),
            gpu.adapter.driver
        );
    }
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}")
            .expect("a valid template"),
    );
    let progress = |what: &str, total: usize| {
        bar.set_length(total as u64);
        bar.inc(1);
        bar.set_message(what.to_string());
    };
    // After every group: the files a stopped run leaves behind (charts only at the end).
    let finished = |report: &Report| {
        write_files(&args, report, false).map_err(|e| sampa::Error::Invalid(format!("{e:#}")))
    };
    suite::run(&gpus, &settings, &mut report, progress, finished)?;
    bar.finish_and_clear();
    sampa::out!("{}", table(&report));
    write_files(&args, &report, true)
}

/// The JSON and Markdown reports where asked, and with `last` the charts, saying so.
fn write_files(args: &SuiteArgs, report: &Report, last: bool) -> anyhow::Result<()> {
    let write = |path: &PathBuf, text: String| {
        sampa::fsutil::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    };
    if let Some(path) = &args.json {
        write(path, serde_json::to_string_pretty(report)? + "\n")?;
        if last {
            sampa::outln!("wrote {}", path.display());
        }
    }
    if let Some(path) = &args.markdown {
        write(path, markdown::render(report))?;
        if last {
            sampa::outln!("wrote {}", path.display());
        }
    }
    if let (Some(dir), true) = (&args.plot, last) {
        for path in charts::write(report, dir)? {
            sampa::outln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Every result on one line: adapter, part, case, host median (device median), share of peak.
fn table(r: &Report) -> String {
    let mut s = format!(
        "{:<3} {:<16} {:<54} {:>10} {:<9} {:>10} {:>6}  notes\n",
        "#", "part", "case", "median", "unit", "device", "peak"
    );
    for x in &r.results {
        let (median, note) = match &x.host {
            Some(h) => (markdown::fig(h.median), String::new()),
            None => (
                "-".to_string(),
                format!("not run: {}", x.error.as_deref().unwrap_or("-")),
            ),
        };
        let device = x
            .device
            .as_ref()
            .map_or("-".into(), |d| markdown::fig(d.median));
        let share = x
            .share_of_peak
            .map_or("-".into(), |v| format!("{:.0}%", v * 100.0));
        let ratio = x
            .extra
            .get("sampa_over_sam")
            .map_or(String::new(), |v| format!("SAMPa/SAM {v:.2}"));
        s.push_str(&format!(
            "{:<3} {:<16} {:<54} {:>10} {:<9} {:>10} {:>6}  {}{}\n",
            x.adapter, x.suite, x.case, median, x.unit, device, share, note, ratio
        ));
    }
    s.push_str("median: host wall clock; device: timestamp queries around the same work; peak: share of the adapter's best matmul or copy bandwidth\n");
    s
}
