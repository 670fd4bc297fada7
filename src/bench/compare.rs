//! `sampa bench compare A.json B.json ...`: matching results of several reports side by
//! side. Every adapter of every file is a column; the first column is the baseline. A row is a
//! case (suite part and name) that the baseline and at least one other column have. Each
//! other cell shows its ratio to the baseline and is flagged when the two medians differ by
//! more than the two runs' own spreads (half their p10–p90 ranges) added together.

use super::markdown::fig;
use super::schema::{Better, Report};
use super::stats::Stats;

/// One column: an adapter of one file.
#[derive(Clone, Debug)]
pub struct Column {
    /// `file: #i Backend "name"`.
    pub label: String,
}

/// One matched case.
#[derive(Clone, Debug)]
pub struct Row {
    /// Suite part.
    pub suite: String,
    /// Case name.
    pub case: String,
    /// Unit.
    pub unit: String,
    /// Which way is better.
    pub better: Better,
    /// Per column, the statistics (None: no such result, or it failed).
    pub cells: Vec<Option<Stats>>,
}

impl Row {
    /// Column `c`'s median over the baseline's.
    pub fn ratio(&self, c: usize) -> Option<f64> {
        let (a, b) = (self.cells[0].as_ref()?, self.cells[c].as_ref()?);
        (a.median != 0.0).then(|| b.median / a.median)
    }

    /// How much worse column `c` is than the baseline, in percent (negative when better).
    pub fn slower_pct(&self, c: usize) -> Option<f64> {
        let r = self.ratio(c)?;
        Some(match self.better {
            Better::Lower => (r - 1.0) * 100.0,
            Better::Higher => (1.0 / r - 1.0) * 100.0,
        })
    }

    /// Whether column `c` differs from the baseline by more than the runs' spread.
    pub fn flagged(&self, c: usize) -> bool {
        match (&self.cells[0], &self.cells[c]) {
            (Some(a), Some(b)) => (b.median - a.median).abs() > a.half_spread() + b.half_spread(),
            _ => false,
        }
    }
}

/// The matched results of several reports.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Baseline first.
    pub columns: Vec<Column>,
    /// Cases in the baseline's order.
    pub rows: Vec<Row>,
}

/// Match the results of `reports` (each with the name of its file).
pub fn compare(reports: &[(String, Report)]) -> Comparison {
    let mut columns = Vec::new();
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for (f, (name, r)) in reports.iter().enumerate() {
        for a in &r.adapters {
            if r.results.iter().any(|x| x.adapter == a.index) {
                columns.push(Column {
                    label: format!("{name}: #{} {}", a.index, a.label()),
                });
                keys.push((f, a.index));
            }
        }
    }
    let mut rows = Vec::new();
    let Some(&(bf, ba)) = keys.first() else {
        return Comparison { columns, rows };
    };
    for base in reports[bf]
        .1
        .results
        .iter()
        .filter(|x| x.adapter == ba && x.adapter2.is_none())
    {
        let cells: Vec<Option<Stats>> = keys
            .iter()
            .map(|&(f, a)| {
                reports[f].1.results.iter().find(|x| {
                    x.adapter == a
                        && x.suite == base.suite
                        && x.case == base.case
                        && x.unit == base.unit
                })
            })
            .map(|x| x.and_then(|x| x.host.clone()))
            .collect();
        if cells[0].is_some() && cells[1..].iter().any(Option::is_some) {
            rows.push(Row {
                suite: base.suite.clone(),
                case: base.case.clone(),
                unit: base.unit.clone(),
                better: base.better,
                cells,
            });
        }
    }
    Comparison { columns, rows }
}

impl Comparison {
    /// The rows whose baseline median is 0 while another column has the case: no ratio can
    /// be taken, and a comparison that would skip them could pass what it never checked.
    pub fn zero_baselines(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.cells[0].as_ref().is_some_and(|s| s.median == 0.0))
            .collect()
    }

    /// Cells more than `pct` percent worse than the baseline and beyond the spread:
    /// `(row, column, percent)`.
    pub fn slower_than(&self, pct: f64) -> Vec<(usize, usize, f64)> {
        let mut out = Vec::new();
        for (i, row) in self.rows.iter().enumerate() {
            for c in 1..self.columns.len() {
                if let Some(s) = row.slower_pct(c).filter(|&s| s > pct && row.flagged(c)) {
                    out.push((i, c, s));
                }
            }
        }
        out
    }

    /// The table as text: the baseline's median, then each column's median and ratio, `*`
    /// marking a difference beyond the spread.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (c, col) in self.columns.iter().enumerate() {
            s.push_str(&format!(
                "[{c}] {}{}\n",
                col.label,
                if c == 0 { " (baseline)" } else { "" }
            ));
        }
        s.push_str(&format!("{:<10} {:<52} {:<9}", "part", "case", "unit"));
        for c in 0..self.columns.len() {
            s.push_str(&format!(" {:>20}", format!("[{c}]")));
        }
        s.push('\n');
        for row in &self.rows {
            s.push_str(&format!(
                "{:<10} {:<52} {:<9}",
                row.suite, row.case, row.unit
            ));
            for (c, cell) in row.cells.iter().enumerate() {
                let text = match (cell, c, row.ratio(c)) {
                    (None, _, _) => "-".to_string(),
                    (Some(st), 0, _) => fig(st.median),
                    (Some(st), _, Some(r)) => {
                        format!(
                            "{} ×{:.2}{}",
                            fig(st.median),
                            r,
                            if row.flagged(c) { "*" } else { " " }
                        )
                    }
                    (Some(st), _, None) => format!("{} ×? (baseline 0)", fig(st.median)),
                };
                s.push_str(&format!(" {text:>20}"));
            }
            s.push('\n');
        }
        s.push_str(&format!(
            "{} matching results; ×: median over the baseline's; *: the difference exceeds the runs' spread\n",
            self.rows.len()
        ));
        s
    }
}
