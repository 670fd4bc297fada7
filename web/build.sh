#!/usr/bin/env bash
# Build the browser demo into web/pkg: the library for wasm32 with the `web` profile (small),
# then the JS glue with the wasm-bindgen CLI of exactly the version Cargo.toml pins (installed
# here when missing; about two minutes), and the training page's data.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown ||
    rustup target add wasm32-unknown-unknown
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ]]; then
    cargo install wasm-bindgen-cli --version "$version"
fi
cargo build --lib --target wasm32-unknown-unknown --profile web
rm -rf web/pkg
wasm-bindgen --target web --no-typescript --out-dir web/pkg \
    target/wasm32-unknown-unknown/web/sampa.wasm
# The training page's data: the embedded Fashion-MNIST subset's four gzipped IDX files, which
# the page fetches and decodes in wasm.
mkdir -p web/pkg/data
cp assets/fashion-mnist-subset/*.gz web/pkg/data/
echo "web/pkg/data: $(cat web/pkg/data/*.gz | wc -c) bytes"
echo "web/pkg/sampa_bg.wasm: $(stat -c %s web/pkg/sampa_bg.wasm) bytes"
