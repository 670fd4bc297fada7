#!/usr/bin/env bash
# Build the demo and serve web/ on http://127.0.0.1:${PORT:-8000}/ (a file:// page cannot load
# the wasm module). Open it in Chrome or Edge; on Linux start the browser with
# --enable-unsafe-webgpu.
set -euo pipefail
cd "$(dirname "$0")/.."
web/build.sh
port=${PORT:-8000}
echo "serving http://127.0.0.1:$port/"
cargo run --release --quiet -- serve --dir web --port "$port"
