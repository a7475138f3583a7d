#!/usr/bin/env bash
# The test command: formatting, lints, then the whole test suite.
# Needs only the Rust toolchain (every dependency builds from crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
