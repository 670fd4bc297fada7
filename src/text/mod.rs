//! Text data: GLUE's tasks as their own files lay them out (`glue`), the metrics GLUE
//! reports for each (`metrics`), BERT's WordPiece tokenizer (`tokenizer`, native only), and
//! the tasks tokenized into data sets (`dataset`, native only).

#[cfg(not(target_arch = "wasm32"))]
pub mod dataset;
pub mod glue;
pub mod metrics;
#[cfg(not(target_arch = "wasm32"))]
pub mod tokenizer;
