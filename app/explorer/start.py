"""Start an explorer for one node, in this process: for `synod explorer` and for a command that
runs a network and wants its page beside it (`synod demo`, which stops it with `server.stop()`)."""

from __future__ import annotations

from app.client.follow import Notices, follow_node
from app.client.querier import AbciQuerier, Querier
from app.client.rpc import CometRPC
from app.explorer.evaluate import Evaluator
from app.explorer.server import ExplorerServer
from app.explorer.state import Explorer, Sources

__all__ = ["FOLLOW_POLL_S", "start_explorer"]

FOLLOW_POLL_S = 1.0  # /status polling while the node's websocket is down


def start_explorer(
    rpc: CometRPC,
    host: str,
    port: int,
    notices: Notices,
    verified: Querier | None = None,
    evaluate: bool = True,
) -> tuple[ExplorerServer, str]:
    """Serve the explorer of the node behind rpc on host:port (0: any free port); return the running
    server (daemon threads; `stop()` ends them) and its URL.

    verified: a verifying querier (app/client/verified) to read module state through, else reads are
    abci_query; evaluate: compute each checkpoint's test accuracy and loss locally (JAX). Raises
    MissingBundle (the page is not built) or OSError (the address cannot be listened on)."""
    follower = follow_node(rpc.url, FOLLOW_POLL_S, notices).start()
    sources = Sources(
        rpc=rpc,
        querier=verified if verified is not None else AbciQuerier(rpc),
        verified=verified is not None,
        waiter=follower,
        evaluator=Evaluator() if evaluate else None,
    )
    try:
        server = ExplorerServer(Explorer(sources))
        bound = server.start(host, port)
    except BaseException:
        follower.close()
        raise
    server.on_stop.append(follower.close)
    return server, f"http://{host}:{bound}/"
