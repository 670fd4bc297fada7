//! `summary.png`: each setting's test accuracy against epoch, its mean as a line and a band of
//! one sample standard deviation either side.

use super::summary::{SettingSummary, Stat};
use crate::error::Result;
use plotters::prelude::*;
use std::path::Path;

/// Draw the settings' curves into `path`; nothing when no run has a test accuracy (a
/// regression's sweep, whose figures are in `summary.md`).
pub fn bands(settings: &[SettingSummary], path: &Path) -> Result<()> {
    if settings.iter().all(|s| s.test_accuracy_by_epoch.is_empty()) {
        return Ok(());
    }
    crate::run::plot::png(path, "sweep plot", Box::new(|tmp| draw(settings, tmp)))
}

fn draw(
    settings: &[SettingSummary],
    path: &Path,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let epochs = settings
        .iter()
        .map(|s| s.test_accuracy_by_epoch.len())
        .max()
        .unwrap_or(0);
    let points = settings.iter().flat_map(|s| &s.test_accuracy_by_epoch);
    let spread = |t: &Stat| t.std.unwrap_or(0.0);
    let lo = points
        .clone()
        .map(|t| t.mean - spread(t))
        .fold(1.0, f64::min);
    let hi = points.map(|t| t.mean + spread(t)).fold(0.0, f64::max);
    let (lo, hi) = (100.0 * lo.clamp(0.0, 1.0), 100.0 * hi.clamp(0.0, 1.0));
    let margin = ((hi - lo) * 0.1).max(0.5);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "test accuracy: mean ± sample std over seeds",
            ("sans-serif", 20),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            0.5..epochs.max(1) as f64 + 0.5,
            (lo - margin).max(0.0)..(hi + margin).min(100.0),
        )?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("test accuracy (%)")
        .x_labels(epochs.clamp(2, 10))
        .draw()?;
    for (i, s) in settings.iter().enumerate() {
        let color = Palette99::pick(i);
        let at = |e: usize, v: f64| ((e + 1) as f64, 100.0 * v);
        let stats = &s.test_accuracy_by_epoch;
        let mut band: Vec<(f64, f64)> = stats
            .iter()
            .enumerate()
            .map(|(e, t)| at(e, t.mean + spread(t)))
            .collect();
        band.extend(
            stats
                .iter()
                .enumerate()
                .rev()
                .map(|(e, t)| at(e, t.mean - spread(t))),
        );
        chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))?;
        let line: Vec<(f64, f64)> = stats
            .iter()
            .enumerate()
            .map(|(e, t)| at(e, t.mean))
            .collect();
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(format!("{} ({} runs)", s.name, s.runs))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
