"""Compile the ABCI protos (from the Go module cache) and Synod's own protos into app/pb.

Upstream .proto files are never copied into this repository: `go mod download -json` tells where
the pinned cometbft and gogoproto modules sit in the module cache, and grpcio-tools compiles them
from there. A stamp over every input makes a second run free.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from app.node.toolchain import COMETBFT_MODULE, COMETBFT_VERSION, GOGOPROTO_MODULE, REPO_ROOT

__all__ = ["build", "main"]

OUT_DIR = REPO_ROOT / "app" / "pb"
SYNOD_PROTO_DIR = REPO_ROOT / "proto"
# The tendermint packages we need: ABCI, and the header/commit/validator types for the light client.
TENDERMINT_PACKAGES = ("abci", "crypto", "types", "version")

_PB_INIT = '"""Generated protobuf code (app/node/protobuild.py); app/__init__.py puts it on sys.path."""\n'


def _module_dir(module_at_version: str) -> Path:
    """Download a Go module (cached) and return its directory in the module cache.

    Without a Go toolchain (the Docker image's Python stage), $GOMODCACHE must already hold the
    module, copied from the Go stage.
    """
    if shutil.which("go") is None:
        cache = os.environ.get("GOMODCACHE")
        if cache and (Path(cache) / module_at_version).is_dir():
            return Path(cache) / module_at_version
        raise SystemExit(
            f"go is not installed and $GOMODCACHE does not hold {module_at_version}: install Go "
            f"(https://go.dev/dl) and run scripts/setup.sh again"
        )
    out = subprocess.run(
        ["go", "mod", "download", "-json", module_at_version],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(out.stdout)["Dir"])


def _inputs(cometbft: Path, gogo: Path) -> list[Path]:
    """List every .proto file that goes into the build, in a stable order."""
    files = [gogo / "gogoproto" / "gogo.proto"]
    for pkg in TENDERMINT_PACKAGES:
        files += sorted((cometbft / "proto" / "tendermint" / pkg).rglob("*.proto"))
    files += sorted(SYNOD_PROTO_DIR.rglob("*.proto"))
    return files


def _stamp(files: list[Path]) -> str:
    """Digest of the tool versions and every input file's bytes (a new protoc or runtime rebuilds)."""
    from importlib.metadata import version

    h = hashlib.sha256()
    tools = f"grpcio-tools {version('grpcio-tools')} protobuf {version('protobuf')}"
    h.update(f"{COMETBFT_VERSION} {GOGOPROTO_MODULE} {tools}".encode())
    for f in files:
        h.update(str(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def build(force: bool = False) -> bool:
    """Compile all protos into app/pb; return False if the stamp shows nothing changed."""
    from grpc_tools import protoc

    cometbft = _module_dir(f"{COMETBFT_MODULE}@{COMETBFT_VERSION}")
    gogo = _module_dir(GOGOPROTO_MODULE)
    files = _inputs(cometbft, gogo)
    stamp = _stamp(files)
    stamp_file = OUT_DIR / ".stamp"
    if not force and stamp_file.exists() and stamp_file.read_text() == stamp:
        return False
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True)
    well_known = Path(protoc.__file__).parent / "_proto"
    includes = [cometbft / "proto", gogo, SYNOD_PROTO_DIR, well_known]
    args = ["grpc_tools.protoc", *(f"-I{p}" for p in includes)]
    args += [f"--python_out={OUT_DIR}", f"--pyi_out={OUT_DIR}", f"--grpc_python_out={OUT_DIR}"]
    args += [str(f) for f in files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed (see the messages above)")
    for d in [OUT_DIR, *[p for p in OUT_DIR.rglob("*") if p.is_dir()]]:
        (d / "__init__.py").touch()
    (OUT_DIR / "__init__.py").write_text(_PB_INIT)
    stamp_file.write_text(stamp)
    return True


def main() -> None:
    """Entry point: `python -m app.node.protobuild [--force]`."""
    changed = build(force="--force" in sys.argv)
    print("protos compiled into app/pb" if changed else "protos up to date")


if __name__ == "__main__":
    main()
