//! `curves.png`: loss and accuracy against epoch, train and test.

use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// One epoch's summary.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct EpochPoint {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch.
    pub train_acc: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Test accuracy.
    pub test_acc: f64,
}

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Draw the curves into `path` (through a temporary file, then renamed).
pub fn curves(points: &[EpochPoint], title: &str, path: &Path) -> Result<()> {
    font();
    let tmp = path.with_extension("tmp.png");
    draw(points, title, &tmp)
        .map_err(|e| Error::data(path, format!("cannot draw the curves: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::data(path, format!("cannot write: {e}")))
}

fn draw(
    points: &[EpochPoint],
    title: &str,
    path: &Path,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (left, right) = root.split_horizontally(500);
    let epochs = points.len().max(1) as f64;
    let x_range = 0.5..epochs + 0.5;
    let max_loss = points
        .iter()
        .flat_map(|p| [p.train_loss, p.test_loss])
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.1;
    type Getter = fn(&EpochPoint) -> f64;
    let panels: [(_, &str, std::ops::Range<f64>, [Getter; 2]); 2] = [
        (
            &left,
            "loss",
            0.0..max_loss,
            [|p| p.train_loss, |p| p.test_loss],
        ),
        (
            &right,
            "accuracy (%)",
            0.0..100.0,
            [|p| 100.0 * p.train_acc, |p| 100.0 * p.test_acc],
        ),
    ];
    for (area, name, y_range, getters) in panels {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(x_range.clone(), y_range)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(name)
            .x_labels(points.len().clamp(2, 10))
            .draw()?;
        for (getter, label, color) in [(getters[0], "train", BLUE), (getters[1], "test", RED)] {
            let series: Vec<(f64, f64)> =
                points.iter().map(|p| (p.epoch as f64, getter(p))).collect();
            chart
                .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(
                series
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
