#!/usr/bin/env bash
# One command: writes a folder of PNG digits (examples/image_cnn/make_images.py) once, then runs the
# main job on it: `bash scripts/demo.sh --data FOLDER`, which posts a CNN task on the images' shape
# and trains it across a fresh 4-validator localnet. Options pass through to the demo, e.g.
#   bash examples/image_cnn/run.sh --rounds 8 --arch mlp:64     # the MLP, for comparison
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
folder=${SYNOD_IMAGE_FOLDER:-build/shifted-digits}
if [ ! -d "$folder" ]; then
  .venv/bin/python -m examples.image_cnn.make_images "$folder"
fi
exec .venv/bin/synod demo --data "$folder" "$@"
