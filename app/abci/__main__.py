"""Run the ABCI server alone over a LevelDB directory (benchmarks, debugging with abci-cli).

    python -m app.abci --db DIR [--address tcp://127.0.0.1:26658]

`synod start` is the way to run a node; this serves the app without CometBFT, like the Cosmos
SDK's `start --with-comet=false`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from app.abci.handlers import AbciHandlers
from app.abci.server import AbciServer
from app.app import SynodApp
from app.state.backend import LevelDBBackend


async def _serve(db: str, address: str) -> None:
    """Serve until a handler fails or the process is stopped."""
    backend = LevelDBBackend(db)
    server = AbciServer(AbciHandlers(SynodApp(backend)))
    await server.start(address)
    print(f"ABCI server on {address}, db {db}", flush=True)
    try:
        raise SystemExit(f"ABCI handler failed: {await server.wait_failed()!r}")
    finally:
        await server.stop()
        backend.close()


def main() -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m app.abci", description=__doc__)
    parser.add_argument("--db", required=True, help="LevelDB directory (created if absent)")
    parser.add_argument("--address", default="tcp://127.0.0.1:26658")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(args.db, args.address))


if __name__ == "__main__":
    main()
