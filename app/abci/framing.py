"""ABCI socket framing: each message is an unsigned-varint length followed by that many bytes.

The decoder accepts bytes in whatever pieces the socket delivers: a frame split across reads,
many frames in one read, and frames of tens of megabytes (up to MAX_FRAME_BYTES).
"""

from __future__ import annotations

from app.core.codec import decode_uvarint, encode_uvarint

__all__ = ["MAX_FRAME_BYTES", "FrameError", "FrameDecoder", "encode_frame"]

# CometBFT caps ABCI messages at 100 MB on its side; we accept a little more than it can send.
MAX_FRAME_BYTES = 128 * 1024 * 1024


class FrameError(ValueError):
    """The byte stream is not valid ABCI framing (oversize length or malformed varint)."""


def encode_frame(payload: bytes) -> bytes:
    """Length-prefix one message."""
    return encode_uvarint(len(payload)) + payload


class FrameDecoder:
    """Incremental decoder: feed() bytes, get back every frame completed so far."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._max = max_frame

    def feed(self, data: bytes) -> list[bytes]:
        """Append data; return complete frames in order, keeping any partial tail."""
        self._buf += data
        frames = []
        while True:
            try:
                header = decode_uvarint(self._buf, self._pos)
            except ValueError as e:
                raise FrameError(str(e)) from None
            if header is None:
                break
            length, start = header
            if length > self._max:
                raise FrameError(f"frame of {length} bytes exceeds the {self._max}-byte limit")
            end = start + length
            if end > len(self._buf):
                break
            frames.append(bytes(self._buf[start:end]))
            self._pos = end
        if self._pos:
            # Drop consumed bytes in one slice, not per frame, so batches stay linear-time.
            del self._buf[: self._pos]
            self._pos = 0
        return frames

    @property
    def pending(self) -> int:
        """Bytes buffered for an incomplete frame."""
        return len(self._buf) - self._pos
