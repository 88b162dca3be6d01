#!/usr/bin/env bash
# Installs the runnable examples that are npm projects of their own, so their acceptance tests
# run instead of skipping: examples/cdktf pins cdktf-cli, cdktf and ts-node (npm registry only).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d examples/cdktf/node_modules ]; then
  echo "setup: installing examples/cdktf (cdktf-cli and its pins) from npm" >&2
  (cd examples/cdktf && npm ci --no-audit --no-fund >&2)
fi
