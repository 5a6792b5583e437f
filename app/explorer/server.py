"""The explorer's web server: one page, its bundle, the snapshot as JSON, and a server-sent event
stream that pushes the snapshot once per new block.

Every response comes from the Explorer's one snapshot (state.py); no request reads the node. The
event stream sends the whole snapshot (it is small: bounded lists) whenever its version changes, so
a page that reconnects after a drop is up to date at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app.explorer.state import Explorer

__all__ = ["STATIC_DIR", "ExplorerServer", "MissingBundle", "check_bundle"]

# Built by scripts/setup.sh (`npm ci` and app/explorer/web/build.mjs); git-ignored.
STATIC_DIR = Path(__file__).resolve().parent / "static"
_BUNDLE = ("index.html", "main.js", "style.css")
_KEEPALIVE_S = 15.0  # an SSE comment line this often keeps proxies from closing an idle stream


class MissingBundle(RuntimeError):
    """The page's bundle was not built."""


def check_bundle(directory: Path = STATIC_DIR) -> Path:
    """The bundle directory, or MissingBundle saying how to build it."""
    missing = [name for name in _BUNDLE if not (directory / name).is_file()]
    if missing:
        raise MissingBundle(
            f"the explorer's page is not built ({', '.join(missing)} missing in {directory}): run "
            "`bash scripts/setup.sh` (it runs `npm ci` and `node build.mjs` in app/explorer/web)"
        )
    return directory


class _Broadcast:
    """A version counter the refresher thread bumps and every event stream awaits, on the loop."""

    def __init__(self) -> None:
        self.version = 0
        self.changed: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind(self) -> None:
        """Attach to the running loop (called at start-up, on it)."""
        self.loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()

    def notify(self) -> None:
        """Called from any thread: wake every stream (nothing once the server has stopped: the
        refresher may finish a refresh after the loop closed)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        """On the loop: new version, wake the waiters, arm a fresh event."""
        self.version += 1
        assert self.changed is not None
        old, self.changed = self.changed, asyncio.Event()
        old.set()


class ExplorerServer:
    """uvicorn serving the explorer's Starlette app in a daemon thread; the refresher in another."""

    def __init__(self, explorer: Explorer, static_dir: Path = STATIC_DIR) -> None:
        self.explorer = explorer
        self.static_dir = check_bundle(static_dir)
        self.broadcast = _Broadcast()
        explorer.on_update = self.broadcast.notify
        self.app = self._build_app()
        self._server: uvicorn.Server | None = None
        self._threads: list[threading.Thread] = []
        self.on_stop: list[Callable[[], None]] = []  # what else stop() ends (the block follower)

    def _build_app(self) -> Starlette:
        """The routes."""
        return Starlette(
            routes=[
                Route("/", self._index),
                Route("/api/snapshot", self._snapshot),
                Route("/api/events", self._events),
                Route("/healthz", self._health),
                Mount("/static", StaticFiles(directory=self.static_dir)),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Bind the broadcast to the server's loop while it serves."""
        self.broadcast.bind()
        yield
        self.broadcast.loop = None

    async def _index(self, request: Request) -> Response:
        """The page."""
        return FileResponse(self.static_dir / "index.html", headers={"cache-control": "no-cache"})

    async def _snapshot(self, request: Request) -> Response:
        """The latest snapshot as JSON (never a read of the node)."""
        return Response(
            self.explorer.document,
            media_type="application/json",
            headers={"x-synod-height": str(self.explorer.height), "cache-control": "no-store"},
        )

    async def _health(self, request: Request) -> Response:
        """ok, and the height of the snapshot served."""
        return JSONResponse({"ok": True, "height": self.explorer.height, "reads": self.explorer.reads})

    async def _events(self, request: Request) -> Response:
        """text/event-stream: the snapshot now, then again at each change."""
        return StreamingResponse(
            self._stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def _stream(self) -> AsyncIterator[bytes]:
        """One `data:` event per snapshot version; a comment line while nothing changes."""
        sent = -1
        while True:
            if sent != self.broadcast.version:
                sent = self.broadcast.version
                yield b"event: snapshot\ndata: " + self.explorer.document + b"\n\n"
            changed = self.broadcast.changed
            if changed is None:
                await asyncio.sleep(0.1)
                continue
            try:
                await asyncio.wait_for(changed.wait(), _KEEPALIVE_S)
            except TimeoutError:
                yield b": keepalive\n\n"

    def start(self, host: str, port: int) -> int:
        """Serve on host:port (0: any free port) and start the refresher; return the port."""
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
            lifespan="on",
            ws="none",
        )
        self._server = uvicorn.Server(config)
        serving = threading.Thread(target=self._server.run, name="explorer http", daemon=True)
        serving.start()
        while not self._server.started:
            if not serving.is_alive():
                raise OSError(f"the explorer could not listen on {host}:{port} (in use, or not an address?)")
            threading.Event().wait(0.05)
        refresher = threading.Thread(target=self.explorer.run, name="explorer refresh", daemon=True)
        refresher.start()
        self._threads = [serving, refresher]
        sockets = self._server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Stop serving and refreshing."""
        self.explorer.stop()
        if self._server is not None:
            self._server.should_exit = True
        for thread in self._threads:
            thread.join(timeout=10)
        for stop in self.on_stop:
            stop()
