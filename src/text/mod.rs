//! Text data: GLUE's tasks as their own files lay them out (`glue`), and the metrics GLUE
//! reports for each (`metrics`).

pub mod glue;
pub mod metrics;
