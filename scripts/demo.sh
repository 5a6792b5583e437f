#!/usr/bin/env bash
# The main job: set up (idempotent), then `synod demo`: a fresh 4-validator localnet and its explorer
# page (URL printed first), funded worker and predictor keys, the default task (digits, logistic
# regression, 5 rounds) scored by every validator's committee member, one JAX worker process per key
# on its own non-IID shard (the last one attacking, excluded and slashed), a prediction query settled
# by three predictors, the rounds followed live, the final model's accuracy beside a centrally
# trained reference, every validator's final model hash, the final model downloaded with --verify,
# and a plot. Everything it starts is stopped at the end, on Ctrl-C and on failure. Options pass
# through, e.g.
#   bash scripts/demo.sh --workers 8 --rounds 10 --dir /tmp/demo --keep
#   bash scripts/demo.sh --plain          # FedAvg with honest workers alone
# (`.venv/bin/synod demo --help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/synod demo "$@"
