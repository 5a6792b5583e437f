"""Run the ABCI server alone over a LevelDB directory (benchmarks, debugging with abci-cli).

    python -m app.abci --db DIR [--address tcp://127.0.0.1:26658] [--grpc 127.0.0.1:9090]
                       [--api 127.0.0.1:1317 [--rpc http://127.0.0.1:26657]]
                       [--bls-key HOME/config/bls_key.json] [--ensemble-dir HOME/data/ensemble]

`synod start` is the way to run a node; this serves the app without CometBFT, like the Cosmos
SDK's `start --with-comet=false`. With --grpc, the gRPC query server runs too, on the same loop;
with --api, the REST gateway and /metrics (txs go to --rpc, if given).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from app.abci.handlers import AbciHandlers
from app.abci.server import AbciServer
from app.app import SynodApp
from app.client.rpc import CometRPC
from app.grpc.server import QueryServer
from app.node.blskey import load_bls_key
from app.rest.server import RestServer
from app.state.backend import LevelDBBackend


async def _serve(args: argparse.Namespace) -> None:
    """Serve until a handler fails or the process is stopped."""
    bls_secret = load_bls_key(Path(args.bls_key)) if args.bls_key else None
    backend = LevelDBBackend(args.db)
    ensemble_dir = Path(args.ensemble_dir) if args.ensemble_dir else None
    handlers = AbciHandlers(SynodApp(backend), bls_secret=bls_secret, ensemble_dir=ensemble_dir)
    server = AbciServer(handlers)
    queries = QueryServer(backend) if args.grpc else None
    rest = RestServer(backend, CometRPC(args.rpc) if args.rpc else None) if args.api else None
    try:
        handlers.start()  # the ensemble answer watcher, off the ABCI loop
        await server.start(args.address)
        print(f"ABCI server on {args.address}, db {args.db}", flush=True)
        if queries is not None:
            port = await queries.start(args.grpc)
            print(f"gRPC query server on {args.grpc} (port {port})", flush=True)
        if rest is not None:
            port = await rest.start(args.api)
            print(f"REST gateway on http://{args.api} (port {port}; /metrics, /openapi.json)", flush=True)
        raise SystemExit(f"ABCI handler failed: {await server.wait_failed()!r}")
    finally:
        await server.stop()
        handlers.stop()
        for extra in (queries, rest):
            if extra is not None:
                await extra.stop()
        backend.close()


def main() -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m app.abci", description=__doc__)
    parser.add_argument("--db", required=True, help="LevelDB directory (created if absent)")
    parser.add_argument("--address", default="tcp://127.0.0.1:26658")
    parser.add_argument("--grpc", default=None, help="HOST:PORT for the gRPC query server (off if omitted)")
    parser.add_argument(
        "--api", default=None, help="HOST:PORT for the REST gateway and /metrics (off if omitted)"
    )
    parser.add_argument("--rpc", default=None, help="CometBFT RPC URL the gateway forwards txs to")
    parser.add_argument(
        "--bls-key", default=None, help="config/bls_key.json: sign beacon shares in vote extensions"
    )
    parser.add_argument(
        "--ensemble-dir", default=None, help="where the ensemble sidecar writes QUERY_ID.bin answers"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
