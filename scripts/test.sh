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
# Unit and integration tests in two processes (pytest-xdist, whole files each: they are CPU-bound
# and independent); then the e2e tier in one, since its localnets and JAX agents are timed in blocks
# and two networks side by side on 2 cores starve each other. Both run; either failing fails.
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=10 tests --ignore=tests/e2e "$@" || status=$?
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 tests/e2e "$@" || status=$?
exit "$status"
