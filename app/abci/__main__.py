"""Run the ABCI server alone over a LevelDB directory (benchmarks, debugging with abci-cli).

    python -m app.abci --db DIR [--address tcp://127.0.0.1:26658] [--grpc 127.0.0.1:9090]
                       [--bls-key HOME/config/bls_key.json] [--ensemble-dir HOME/data/ensemble]

`synod start` is the way to run a node; this serves the app without CometBFT, like the Cosmos
SDK's `start --with-comet=false`. With --grpc, the gRPC query server runs too, on the same loop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from app.abci.handlers import AbciHandlers
from app.abci.server import AbciServer
from app.app import SynodApp
from app.grpc.server import QueryServer
from app.node.blskey import load_bls_key
from app.state.backend import LevelDBBackend


async def _serve(
    db: str, address: str, grpc_address: str | None, bls_key: str | None, ensemble_dir: str | None
) -> None:
    """Serve until a handler fails or the process is stopped."""
    bls_secret = load_bls_key(Path(bls_key)) if bls_key else None
    backend = LevelDBBackend(db)
    handlers = AbciHandlers(
        SynodApp(backend), bls_secret=bls_secret, ensemble_dir=Path(ensemble_dir) if ensemble_dir else None
    )
    server = AbciServer(handlers)
    queries = QueryServer(backend) if grpc_address else None
    try:
        handlers.start()  # the ensemble answer watcher, off the ABCI loop
        await server.start(address)
        print(f"ABCI server on {address}, db {db}", flush=True)
        if queries is not None and grpc_address:
            port = await queries.start(grpc_address)
            print(f"gRPC query server on {grpc_address} (port {port})", flush=True)
        raise SystemExit(f"ABCI handler failed: {await server.wait_failed()!r}")
    finally:
        await server.stop()
        handlers.stop()
        if queries is not None:
            await queries.stop()
        backend.close()


def main() -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m app.abci", description=__doc__)
    parser.add_argument("--db", required=True, help="LevelDB directory (created if absent)")
    parser.add_argument("--address", default="tcp://127.0.0.1:26658")
    parser.add_argument("--grpc", default=None, help="HOST:PORT for the gRPC query server (off if omitted)")
    parser.add_argument(
        "--bls-key", default=None, help="config/bls_key.json: sign beacon shares in vote extensions"
    )
    parser.add_argument(
        "--ensemble-dir", default=None, help="where the ensemble sidecar writes QUERY_ID.bin answers"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(args.db, args.address, args.grpc, args.bls_key, args.ensemble_dir))


if __name__ == "__main__":
    main()
