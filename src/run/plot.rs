//! `curves.png`: loss and accuracy against epoch, train and test, and for a run with
//! `--diagnose-every` the SAMPa paper's appendix figure: cos(∇f(x_t), ∇f(y_t)) and
//! ‖∇f(x_t) − ∇f(y_t)‖ against the step.

use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

pub use crate::train::session::EpochPoint;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Register the bundled font once (plotters draws text with it).
fn font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// What draws a chart into a file.
pub type Drawing<'a> =
    dyn FnOnce(&Path) -> std::result::Result<(), Box<dyn std::error::Error>> + 'a;

/// Draw `what` (named in errors) into `path` through a temporary file, then rename it, so a
/// reader never sees half a PNG. The temporary file carries the process id (two processes
/// never share one), and ends in `.png`, which the drawing library reads the format from.
pub fn png(path: &Path, what: &str, draw: Box<Drawing<'_>>) -> Result<()> {
    font();
    let stem = path
        .file_stem()
        .map_or("plot".into(), |s| s.to_string_lossy());
    let tmp = path.with_file_name(format!(".{stem}.tmp{}.png", std::process::id()));
    draw(&tmp).map_err(|e| Error::data(path, format!("cannot draw the {what}: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::data(path, format!("cannot write: {e}")))
}

/// A run's diagnosed steps: (step, cos(∇f(x), ∇f(y)), ‖∇f(x) − ∇f(y)‖).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnosis(pub Vec<(usize, f64, f64)>);

impl Diagnosis {
    /// The `diagnosis` records of `metrics.jsonl`, in order.
    pub fn from_records(records: &[serde_json::Value]) -> Diagnosis {
        let value = |r: &serde_json::Value, k: &str| r[k].as_f64();
        let rows = records
            .iter()
            .filter(|r| r["kind"] == "diagnosis")
            .filter_map(|r| {
                let step = r["step"].as_u64()? as usize;
                Some((step, value(r, "cos")?, value(r, "distance")?))
            });
        Diagnosis(rows.collect())
    }
}

/// Draw the curves into `path`, with the diagnosis's two panels when it has steps.
pub fn curves(
    (points, diagnosis): (&[EpochPoint], &Diagnosis),
    title: &str,
    path: &Path,
) -> Result<()> {
    png(
        path,
        "curves",
        Box::new(|tmp| draw(points, diagnosis, title, tmp)),
    )
}

fn draw(
    points: &[EpochPoint],
    diagnosis: &Diagnosis,
    title: &str,
    path: &Path,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let width = if diagnosis.0.is_empty() { 1000 } else { 1500 };
    let root = BitMapBackend::new(path, (width, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (left, right) = root.split_horizontally(500);
    let (right, diagnosed) = right.split_horizontally(500);
    if !diagnosis.0.is_empty() {
        draw_diagnosis(&diagnosed, diagnosis)?;
    }
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
            // A regression's accuracies are NaN: it has none to draw.
            let series: Vec<(f64, f64)> = points
                .iter()
                .map(|p| (p.epoch as f64, getter(p)))
                .filter(|(_, y)| y.is_finite())
                .collect();
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

/// The diagnosis's panels, one above the other: the cosine, and the distance.
fn draw_diagnosis<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    d: &Diagnosis,
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let (top, bottom) = area.split_vertically(210);
    let last = d.0.last().map_or(1, |r| r.0) as f64;
    let low = d.0.iter().map(|r| r.1).fold(1.0, f64::min);
    let high = d.0.iter().map(|r| r.2).fold(0.0, f64::max).max(1e-12) * 1.1;
    type Getter = fn(&(usize, f64, f64)) -> f64;
    let panels: [(_, &str, std::ops::Range<f64>, Getter, RGBColor); 2] = [
        (
            &top,
            "cos(∇f(x), ∇f(y))",
            low - 0.05 * (1.0 - low).max(1e-3)..1.0 + 0.05 * (1.0 - low).max(1e-3),
            |r| r.1,
            BLUE,
        ),
        (&bottom, "‖∇f(x) − ∇f(y)‖", 0.0..high, |r| r.2, RED),
    ];
    for (area, name, y_range, getter, color) in panels {
        let mut chart = ChartBuilder::on(area)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..last * 1.02, y_range)?;
        chart.configure_mesh().x_desc("step").y_desc(name).draw()?;
        let series = d.0.iter().map(|r| (r.0 as f64, getter(r)));
        chart.draw_series(LineSeries::new(series, color.stroke_width(2)))?;
    }
    Ok(())
}

/// `toy.png`: ‖∇f(x_t)‖² against t on a log scale, one line per method, with a legend.
pub fn toy_curves(
    traces: &[crate::toy::Trace],
    c: &crate::toy::ToyConfig,
    path: &Path,
) -> Result<()> {
    png(path, "toy plot", Box::new(|tmp| draw_toy(traces, c, tmp)))
}

fn draw_toy(
    traces: &[crate::toy::Trace],
    c: &crate::toy::ToyConfig,
    path: &Path,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    // The plateaus are the story: the axis starts two decades below the lowest one, and lines
    // that keep falling (GD reaches 0) are clipped at the bottom edge.
    let all = traces.iter().flat_map(|t| t.grad_norm_sq.iter().copied());
    let hi = all.clone().fold(1e-30, f64::max) * 2.0;
    let plateaus = traces
        .iter()
        .map(|t| crate::toy::tail_median(&t.grad_norm_sq))
        .filter(|v| *v > 1e-20);
    let lo = plateaus.fold(f64::INFINITY, f64::min);
    let lo = if lo.is_finite() {
        lo / 100.0
    } else {
        all.filter(|v| *v > 0.0).fold(hi, f64::min)
    };
    let floor = lo;
    let title = format!(
        "f(x) = ‖x‖², η = {}, ρ = {}, d = {}",
        c.eta,
        c.rho,
        c.x0.len()
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..c.steps.max(1) as f64, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("step t")
        .y_desc("‖∇f(x_t)‖²")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()?;
    let palette = [
        RGBColor(70, 70, 70),
        BLUE,
        RGBColor(0, 150, 0),
        RGBColor(0, 170, 170),
        RED,
        RGBColor(230, 130, 0),
        MAGENTA,
    ];
    for (i, t) in traces.iter().enumerate() {
        let color = palette[i % palette.len()];
        let pts: Vec<(f64, f64)> = t
            .grad_norm_sq
            .iter()
            .enumerate()
            .map(|(s, v)| (s as f64, v.max(floor)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(t.method.name())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
