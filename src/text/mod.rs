//! Text data: GLUE's tasks as their own files lay them out (`glue`), the metrics GLUE
//! reports for each (`metrics`), and BERT's WordPiece tokenizer (`tokenizer`, native only).

pub mod glue;
pub mod metrics;
#[cfg(not(target_arch = "wasm32"))]
pub mod tokenizer;
