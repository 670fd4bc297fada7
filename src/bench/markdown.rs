//! `--markdown FILE`: the report as Markdown, one table per adapter and one table of every
//! adapter side by side.

use super::schema::{BenchResult, Report};
use std::fmt::Write;

/// A figure with three significant digits (no exponent for the sizes benchmarks produce).
pub fn fig(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The whole report.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let h = &r.host;
    let env: Vec<String> = h.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(s, "# sampa bench: {} suite, {}\n", r.mode, r.date);
    let _ = writeln!(
        s,
        "sampa {} (commit {}) on {} {}, CPU {} ({} logical){}.\n",
        r.sampa_version,
        r.git_commit,
        h.os,
        h.arch,
        h.cpu,
        h.cpus,
        if env.is_empty() {
            String::new()
        } else {
            format!(", {}", env.join(" "))
        }
    );
    s.push_str("Timing: `host` is wall-clock time from submission to completion; `device` is the ");
    s.push_str(
        "time between timestamp queries around the same work, where the adapter has them.\n\n",
    );
    s.push_str("## Adapters\n\n| # | name | backend | type | driver | timestamp queries |\n|---|---|---|---|---|---|\n");
    for a in &r.adapters {
        let ts = a.features.iter().any(|f| f == "TIMESTAMP_QUERY");
        let driver: Vec<&str> = [a.driver.as_str(), a.driver_info.as_str()]
            .into_iter()
            .filter(|d| !d.is_empty())
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            a.index,
            a.name,
            a.backend,
            a.device_type,
            driver.join(" "),
            if ts { "yes" } else { "no" }
        );
    }
    for a in &r.adapters {
        let _ = writeln!(s, "\n## #{} {}\n", a.index, a.label());
        s.push_str("| part | case | median | p10 | p90 | n | unit | device median | share of peak | notes |\n");
        s.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for res in r.results.iter().filter(|x| x.adapter == a.index) {
            s.push_str(&row(res));
        }
    }
    side_by_side(r, &mut s);
    s
}

fn row(r: &BenchResult) -> String {
    let share = r
        .share_of_peak
        .map_or("-".into(), |v| format!("{:.0}%", 100.0 * v));
    let dev = r.device.as_ref().map_or("-".into(), |d| fig(d.median));
    match &r.host {
        Some(h) => format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.suite,
            r.case,
            fig(h.median),
            fig(h.p10),
            fig(h.p90),
            h.n,
            r.unit,
            dev,
            share,
            notes(r)
        ),
        None => format!(
            "| {} | {} | - | - | - | 0 | {} | - | - | not run: {} |\n",
            r.suite,
            r.case,
            r.unit,
            r.error.as_deref().unwrap_or("-")
        ),
    }
}

/// The derived figures worth reading beside a result.
fn notes(r: &BenchResult) -> String {
    let names = [
        ("sampa_over_sam", "SAMPa/SAM"),
        ("sampa_over_sgd", "SAMPa/SGD"),
        ("examples_per_s", "examples/s"),
        ("steps", "steps"),
        ("test_accuracy", "test accuracy"),
    ];
    names
        .iter()
        .filter_map(|(k, label)| r.extra.get(*k).map(|v| format!("{label} {}", fig(*v))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn side_by_side(r: &Report, s: &mut String) {
    s.push_str("\n## Side by side (host medians)\n\n| part | case | unit |");
    for a in &r.adapters {
        let _ = write!(s, " #{} {} |", a.index, a.label());
    }
    s.push_str("\n|---|---|---|");
    s.push_str(&"---|".repeat(r.adapters.len()));
    s.push('\n');
    let mut seen = std::collections::BTreeSet::new();
    for res in &r.results {
        // Two-adapter cases name their worker, so they stay in their adapter's column.
        if res.adapter2.is_some() || !seen.insert((&res.suite, &res.case)) {
            continue;
        }
        let _ = write!(s, "| {} | {} | {} |", res.suite, res.case, res.unit);
        for a in &r.adapters {
            let cell = r
                .results
                .iter()
                .find(|x| x.adapter == a.index && x.suite == res.suite && x.case == res.case)
                .map_or("-".to_string(), |x| {
                    x.host.as_ref().map_or("failed".into(), |h| fig(h.median))
                });
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
}
