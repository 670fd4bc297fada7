//! `sampa bench compare`: saved reports side by side.

use sampa::bench::Report;
use sampa::bench::compare::compare;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Reports written by `sampa bench --json` or offered by web/bench.html; the first is
    /// the baseline.
    #[arg(required = true, num_args = 2..)]
    files: Vec<PathBuf>,
    /// Exit with status 1 when a result is more than PCT percent worse than the baseline's
    /// and the difference exceeds the runs' spread.
    #[arg(long, value_name = "PCT")]
    fail_if_slower: Option<f64>,
}

pub fn run(args: CompareArgs) -> anyhow::Result<()> {
    if let Some(p) = args.fail_if_slower
        && !(p.is_finite() && p >= 0.0)
    {
        anyhow::bail!("--fail-if-slower must be a percentage of at least 0, got {p}");
    }
    let mut reports = Vec::new();
    for path in &args.files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read ({e})", path.display()))?;
        let report =
            Report::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        reports.push((path.display().to_string(), report));
    }
    let c = compare(&reports);
    if c.rows.is_empty() {
        anyhow::bail!(
            "no result of {} matches one in the other files; compare reports of the same suite \
             (the same --quick setting and parts)",
            args.files[0].display()
        );
    }
    sampa::out!("{}", c.render());
    let zero = c.zero_baselines();
    if let Some(r) = zero.first() {
        anyhow::bail!(
            "{}: {} {} has a median of 0 in the baseline, so no ratio can be taken ({} such \
             results); rerun the baseline's case",
            args.files[0].display(),
            r.suite,
            r.case,
            zero.len()
        );
    }
    if let Some(pct) = args.fail_if_slower {
        let slower = c.slower_than(pct);
        for &(row, col, s) in &slower {
            let r = &c.rows[row];
            sampa::outln!(
                "slower: [{col}] {} {}: {s:.1}% worse than the baseline",
                r.suite,
                r.case
            );
        }
        if !slower.is_empty() {
            anyhow::bail!(
                "{} results are more than {pct}% slower than the baseline (--fail-if-slower)",
                slower.len()
            );
        }
    }
    Ok(())
}
