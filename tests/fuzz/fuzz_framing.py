"""Fuzz target `framing`: arbitrary byte streams into the ABCI frame decoder and the socket server.

Decoder: the stream arrives in fuzzed pieces under a fuzzed frame cap. It must return the frames a
reference parser finds (the same whatever the split), raise nothing but FrameError, never hand back
a frame above the cap and never buffer more than one capped frame plus its length prefix.

Server: the stream is one connection's bytes into AbciServer (stub handlers that answer every request
with its empty response). The connection must end without an exception escaping, and a stop may only
be for bytes that are not ABCI requests (FrameError, DecodeError, an empty Request).
"""

from __future__ import annotations

import asyncio
from typing import Any

import atheris
from google.protobuf.message import DecodeError

from app.abci.framing import FrameDecoder, FrameError
from app.abci.server import AbciServer
from app.core.codec import VarintError, decode_uvarint
from tendermint.abci import types_pb2 as abci

__all__ = ["test_one_input"]

_MAX_PREFIX = 10  # a uvarint of a 64-bit length


def _reference(stream: bytes, cap: int) -> tuple[list[bytes], bool]:
    """The frames a whole stream holds, and whether it turns malformed before its end."""
    frames, pos = [], 0
    while True:
        try:
            header = decode_uvarint(stream, pos)
        except VarintError:
            return frames, True
        if header is None:
            return frames, False
        length, start = header
        if length > cap:
            return frames, True
        if start + length > len(stream):
            return frames, False
        frames.append(stream[start : start + length])
        pos = start + length


def _check_decoder(fdp: atheris.FuzzedDataProvider, stream: bytes) -> None:
    """Feed stream in fuzzed pieces; compare with the reference parse."""
    cap = fdp.ConsumeIntInRange(0, 512)
    decoder = FrameDecoder(cap)
    got: list[bytes] = []
    failed, pos = False, 0
    while pos < len(stream):
        step = fdp.ConsumeIntInRange(1, 64) if fdp.remaining_bytes() else len(stream)
        try:
            frames = decoder.feed(stream[pos : pos + step])
        except FrameError:
            failed = True
            break
        pos += step
        assert all(len(f) <= cap for f in frames), "a frame above the cap"
        assert decoder.pending <= cap + _MAX_PREFIX, f"{decoder.pending} bytes buffered over a {cap} cap"
        got += frames
    want, malformed = _reference(stream, cap)
    assert failed == malformed, f"decoder failed={failed}, reference malformed={malformed}"
    assert got == want[: len(got)] and (failed or got == want), "frames differ from the reference parse"


class _Writer:
    """Collects what the server writes."""

    def __init__(self) -> None:
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        self.out += data

    async def drain(self) -> None:
        return None


class _StubHandlers:
    """Answers every ABCI request with its empty response."""

    def __getattr__(self, name: str) -> Any:
        cls = type(getattr(abci.Response(), name))
        return lambda req: cls()


_LOOP = asyncio.new_event_loop()


async def _serve(stream: bytes) -> AbciServer:
    """One connection that sends stream and closes."""
    server = AbciServer(_StubHandlers())
    server._failed = asyncio.get_running_loop().create_future()
    reader = asyncio.StreamReader()
    reader.feed_data(stream)
    reader.feed_eof()
    await server._serve(reader, _Writer())  # type: ignore[arg-type]
    return server


def _check_server(stream: bytes) -> None:
    """The server ends the connection cleanly, stopping only for bytes that are not requests."""
    server = _LOOP.run_until_complete(_serve(stream))
    assert server._failed is not None
    if server._failed.done():
        exc = server._failed.result()
        allowed = isinstance(exc, FrameError | DecodeError) or str(exc) == "empty ABCI request"
        assert allowed, f"server stopped on {type(exc).__name__}: {exc}"


def test_one_input(data: bytes) -> None:
    """Split data into a stream and its piece sizes; check decoder and server."""
    fdp = atheris.FuzzedDataProvider(data)
    stream = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    _check_decoder(fdp, stream)
    _check_server(stream)
