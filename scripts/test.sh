#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), lint, import layers, then pytest over unit,
# integration and e2e tiers. e2e tests run the real CometBFT binary and never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check app cli tests bench examples
.venv/bin/ruff format --check app cli tests bench examples
.venv/bin/lint-imports
.venv/bin/mypy
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 tests "$@"
