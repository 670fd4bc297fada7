//! `--plot DIR`: PNG charts of a report. `matmul.png` plots GFLOP/s against the square size,
//! one line per adapter and variant; `steps.png` draws each model's step times as bars, one
//! group per adapter and one colour per optimizer and schedule.

use super::schema::{BenchResult, Report};
use crate::error::{Error, Result};
use crate::run::plot::png;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Draw = std::result::Result<(), Box<dyn std::error::Error>>;

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(90, 90, 90),
];

/// Write every chart the report has data for into `dir`; returns the files written.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::data(dir, format!("cannot create the plot directory: {e}")))?;
    let mut out = Vec::new();
    let lines = matmul_lines(report);
    if !lines.is_empty() {
        let path = dir.join("matmul.png");
        png(&path, "matmul chart", Box::new(|p| draw_matmul(&lines, p)))?;
        out.push(path);
    }
    let groups = step_groups(report);
    if !groups.is_empty() {
        let path = dir.join("steps.png");
        png(
            &path,
            "step chart",
            Box::new(|p| draw_steps(report, &groups, p)),
        )?;
        out.push(path);
    }
    Ok(out)
}

fn median(r: &BenchResult) -> Option<f64> {
    r.host.as_ref().map(|h| h.median)
}

/// Per "adapter, variant": (log2 size, GFLOP/s) of the square products.
fn matmul_lines(report: &Report) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut lines: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in report.results.iter().filter(|r| r.suite == "matmul") {
        let (Some(size), Some(v), Some(m)) =
            (r.params.get("size"), r.params.get("variant"), median(r))
        else {
            continue;
        };
        let Ok(size) = size.parse::<f64>() else {
            continue;
        };
        let adapter = report
            .adapter(r.adapter)
            .map_or("?".into(), |a| format!("#{} {}", a.index, a.label()));
        lines
            .entry(format!("{adapter}, {v}"))
            .or_default()
            .push((size.log2(), m));
    }
    for pts in lines.values_mut() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    lines
}

fn draw_matmul(lines: &BTreeMap<String, Vec<(f64, f64)>>, path: &Path) -> Draw {
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let pts = lines.values().flatten();
    let (lo, hi) = pts
        .clone()
        .fold((f64::MAX, 0.0f64), |(l, h), p| (l.min(p.0), h.max(p.0)));
    // A log axis: a GPU's tiled matmul and a CPU rasteriser's differ by orders of magnitude.
    let top = pts.clone().map(|p| p.1).fold(0.0, f64::max).max(1e-3) * 1.5;
    let bottom = pts.map(|p| p.1).filter(|v| *v > 0.0).fold(top, f64::min) / 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Square matmul A·B: GFLOP/s against size",
            ("sans-serif", 20),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo - 0.3..hi + 0.3, (bottom..top).log_scale())?;
    let whole = |v: f64| (v - v.round()).abs() < 1e-6;
    chart
        .configure_mesh()
        .x_desc("size n of the n×n×n product (log scale)")
        .y_desc("GFLOP/s (host median, log scale)")
        .light_line_style(WHITE)
        .y_label_formatter(&|v| super::markdown::fig(*v))
        .x_labels(((hi - lo) as usize + 1) * 4)
        .x_label_formatter(&|&v| {
            if whole(v) {
                format!("{}", 2f64.powf(v).round())
            } else {
                String::new()
            }
        })
        .draw()?;
    for (i, (label, pts)) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Per model (with its batch): per adapter, per "optimizer, schedule", the step's median ms.
type Groups = BTreeMap<String, BTreeMap<usize, BTreeMap<String, f64>>>;

fn step_groups(report: &Report) -> Groups {
    let mut g: Groups = BTreeMap::new();
    for r in report.results.iter().filter(|r| r.suite == "step") {
        let (Some(m), Some(model), Some(b)) =
            (median(r), r.params.get("model"), r.params.get("batch"))
        else {
            continue;
        };
        let opt = r.params.get("optimizer").cloned().unwrap_or_default();
        let sched = r.params.get("schedule").cloned().unwrap_or_default();
        let key = match (opt.as_str(), sched.as_str()) {
            ("SGD" | "SAM", _) => opt.clone(),
            _ => format!("{opt}, {sched}"),
        };
        g.entry(format!("{model} at batch {b}"))
            .or_default()
            .entry(r.adapter)
            .or_default()
            .insert(key, m);
    }
    g
}

fn draw_steps(report: &Report, groups: &Groups, path: &Path) -> Draw {
    let height = 380 * groups.len() as u32;
    let root = BitMapBackend::new(path, (1000, height.max(380))).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((groups.len(), 1));
    let mut names: Vec<&String> = groups
        .values()
        .flat_map(|a| a.values().flat_map(|c| c.keys()))
        .collect();
    // SGD, SAM, then SAMPa's schedules from the most sequential to the most parallel.
    let rank = |n: &str| {
        ["SGD", "SAM", "serial", "interleaved", "fused", "dual"]
            .iter()
            .position(|k| n.ends_with(k))
    };
    names.sort_by_key(|n| (rank(n), n.to_string()));
    names.dedup();
    for (panel, (model, adapters)) in panels.iter().zip(groups) {
        let n = adapters.len();
        // Head room above the bars for the legend.
        let top = adapters
            .values()
            .flat_map(|c| c.values())
            .fold(0.0f64, |a, &b| a.max(b))
            * 1.6;
        let labels: Vec<String> = adapters
            .keys()
            .map(|&i| {
                report
                    .adapter(i)
                    .map_or(format!("#{i}"), |a| format!("#{} {}", a.index, a.label()))
            })
            .collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("Step time, {model}"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0.0..top.max(1e-3))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * n + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("adapter")
            .y_desc("ms per step (host median)")
            .draw()?;
        let width = 0.8 / names.len().max(1) as f64;
        for (k, name) in names.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let bars = adapters.values().enumerate().filter_map(|(g, cases)| {
                let v = *cases.get(*name)?;
                let x0 = g as f64 - 0.4 + k as f64 * width;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.9, v)],
                    color.filled(),
                ))
            });
            chart
                .draw_series(bars)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperMiddle)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
