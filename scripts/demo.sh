#!/usr/bin/env bash
# The main job, as far as it exists today: set up, start a 4-validator localnet (each validator an
# app + CometBFT pair on 127.0.0.(i+1), bonded in genesis), send tokens through node0 and read them
# through node3, kill -9 a validator while blocks keep coming, bring it back, and shut down.
# The federated-learning task joins this demo with its issue (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
S=.venv/bin/synod
DIR=${SYNOD_DEMO_DIR:-$(mktemp -d -t synod-demo.XXXX)/localnet}
trap '$S localnet down --dir "$DIR" >/dev/null 2>&1 || true' EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "4-validator localnet in $DIR"
$S localnet up --fresh --dir "$DIR"
say "send 12345usyn through node0, read it through node3"
$S keys add alice --home "$DIR/node0" >/dev/null 2>&1
ALICE=$($S keys show alice --address --home "$DIR/node0")
$S tx bank send validator "$ALICE" 12345usyn --yes --home "$DIR/node0"
$S query bank balances "$ALICE" --home "$DIR/node3"
say "kill -9 node2: the other three keep committing"
$S localnet kill node2 --dir "$DIR"
sleep 3
$S localnet status --dir "$DIR"
say "restart node2: it catches up"
$S localnet start node2 --dir "$DIR"
sleep 4
$S localnet status --dir "$DIR"
$S query staking validators --home "$DIR/node1" 2>/dev/null || true
say "done: shutting the network down (data kept in $DIR)"
