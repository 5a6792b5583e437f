#!/usr/bin/env bash
# The main job, as far as it exists today: set up, start a validator node (app + CometBFT), send
# tokens with the CLI, query them back, survive a kill -9, and shut down cleanly.
# The multi-validator localnet and the learning task join this demo with their issues.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
S=.venv/bin/synod
HOME_DIR=${SYNOD_DEMO_HOME:-$(mktemp -d -t synod-demo.XXXX)}
NODE_PID=""
cleanup() { [ -n "$NODE_PID" ] && kill -TERM "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null; true; }
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_blocks() {
  for _ in $(seq 1 100); do
    h=$($S status --home "$HOME_DIR" --output json 2>/dev/null | sed -n 's/.*"height": \([0-9]*\).*/\1/p' || true)
    [ -n "$h" ] && [ "$h" -ge "$1" ] && { echo "chain at height $h"; return 0; }
    sleep 0.3
  done
  echo "demo: no blocks; see $HOME_DIR/log/cometbft.log" >&2; exit 1
}

say "init a validator node in $HOME_DIR"
$S init --home "$HOME_DIR" --chain-id synod-demo --moniker demo 2>/dev/null
say "start it (synod start: the app and CometBFT $(.venv/bin/cometbft version) as one pair)"
$S start --home "$HOME_DIR" >"$HOME_DIR/node.log" 2>&1 & NODE_PID=$!
wait_blocks 2
say "create a key and send it 12345usyn"
$S keys add alice --home "$HOME_DIR" >/dev/null 2>&1
ALICE=$($S keys show alice --address --home "$HOME_DIR")
$S tx bank send validator "$ALICE" 12345usyn --yes --home "$HOME_DIR"
$S query bank balances "$ALICE" --home "$HOME_DIR"
say "kill -9 the node, restart it: nothing committed is lost"
kill -9 "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true
$S start --home "$HOME_DIR" >>"$HOME_DIR/node.log" 2>&1 & NODE_PID=$!
wait_blocks 4
$S query bank balances "$ALICE" --home "$HOME_DIR"
$S status --home "$HOME_DIR"
say "done: stopping the node (home kept at $HOME_DIR)"
