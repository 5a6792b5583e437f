#!/usr/bin/env bash
# One idempotent set-up: .venv with pinned deps and Synod installed, CometBFT + abci-cli built at the
# pinned tag into .venv/bin, ABCI protos compiled from the Go module cache, Synod's protos compiled,
# the explorer's page bundled (npm ci + esbuild into app/explorer/static), Debian's chromium for the
# explorer's browser test.
# A second run checks each step's stamp and does nothing slow.
#   SYNOD_SETUP_STEPS=python,go,protos,web,browser
#                                        which steps to run (default: all five; the Dockerfile
#                                        runs "go" in its Go stage, "web" in its Node stage and
#                                        "python,protos" after them)
#   SYNOD_SETUP_EXTRAS=ml,dev,flower     optional dependency groups to install (default: ml,dev,flower)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=${PYTHON:-python3}
EXTRAS=${SYNOD_SETUP_EXTRAS:-ml,dev,flower}
COMETBFT_VERSION=$(sed -n 's/^COMETBFT_VERSION = "\(.*\)"$/\1/p' app/node/toolchain.py)
# grpcurl: the e2e tests list and call the node's gRPC services with the real tool.
GRPCURL_VERSION=$(sed -n 's/^GRPCURL_VERSION = "\(.*\)"$/\1/p' app/node/toolchain.py)
[ -n "$COMETBFT_VERSION" ] || { echo "setup: cannot read COMETBFT_VERSION from app/node/toolchain.py" >&2; exit 1; }

STEPS=${SYNOD_SETUP_STEPS:-python,go,protos,web,browser}
step() { printf '\n==> %s\n' "$*"; }
want() { [[ ",$STEPS," == *",$1,"* ]]; }

if want python; then
step "python virtualenv (.venv)"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp_in=$(cat pyproject.toml; echo "$EXTRAS"; "$VENV/bin/python" --version)
stamp_py=$(printf '%s' "$stamp_in" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.synod-deps" 2>/dev/null)" != "$stamp_py" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip==25.3
  "$VENV/bin/python" -m pip install -q -e ".[${EXTRAS}]"
  echo "$stamp_py" > "$VENV/.synod-deps"
else
  echo "dependencies up to date"
fi
fi

if want go; then
step "CometBFT $COMETBFT_VERSION and abci-cli"
if [ "$("$VENV/bin/cometbft" version 2>/dev/null)" = "${COMETBFT_VERSION#v}" ] && [ -x "$VENV/bin/abci-cli" ]; then
  echo "cometbft $("$VENV/bin/cometbft" version) already built"
else
  command -v go >/dev/null || { echo "setup: Go is required to build CometBFT (https://go.dev/dl)" >&2; exit 1; }
  GOBIN="$VENV/bin" go install \
    "github.com/cometbft/cometbft/cmd/cometbft@${COMETBFT_VERSION}" \
    "github.com/cometbft/cometbft/abci/cmd/abci-cli@${COMETBFT_VERSION}"
  echo "built $("$VENV/bin/cometbft" version)"
fi
step "grpcurl $GRPCURL_VERSION"
if [ "$(cat "$VENV/.synod-grpcurl" 2>/dev/null)" = "$GRPCURL_VERSION" ] && [ -x "$VENV/bin/grpcurl" ]; then
  echo "grpcurl $GRPCURL_VERSION already built"
else
  GOBIN="$VENV/bin" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}"
  echo "$GRPCURL_VERSION" > "$VENV/.synod-grpcurl"
  echo "built grpcurl $GRPCURL_VERSION"
fi
fi

if want web; then
step "explorer page (app/explorer/web -> app/explorer/static)"
command -v npm >/dev/null || { echo "setup: Node.js and npm are required to build the explorer's page" >&2; exit 1; }
WEB=app/explorer/web
stamp_web=$(cat "$WEB/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$WEB/node_modules/.synod-web" 2>/dev/null)" != "$stamp_web" ]; then
  (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$stamp_web" > "$WEB/node_modules/.synod-web"
fi
# The bundle is rebuilt every run (well under a second): the page's sources may have changed.
(cd "$WEB" && node build.mjs)
fi

if want browser; then
step "chromium (the explorer's browser test)"
if [ -x /usr/bin/chromium ]; then
  echo "$(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
fi

if want protos; then
step "protobuf code (app/pb)"
"$VENV/bin/python" -m app.node.protobuild
printf '\nready: %s\n' "$("$VENV/bin/synod" --version)"
fi
