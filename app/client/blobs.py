"""Content-addressed blobs: stored under their SHA-256, fetched by URI and checked, served over HTTP.

A task's owner publishes its evaluation rows as one blob (app/ml/evaldata.py gives the bytes) and puts
the blob's URI and hash on chain. Anyone fetching it (committee members, `synod task plot`, the demo)
gets exactly those bytes or a BlobError: the hash is checked before anything is decoded, and a
download stops at max_bytes, so a hostile server can neither feed other rows nor exhaust memory.

URIs: ``file:///abs/path`` (a shared disk, e.g. a localnet) and ``http(s)://host[:port]/path``, for
instance the ``http://HOST:PORT/<sha256 hex>`` that `synod blob serve DIR` answers for every blob in
DIR. The server is Python's standard-library HTTP server: it only serves files whose name is a
64-digit hex digest, answers 404 for anything else, and never lists the directory.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from app.core.fsutil import write_atomically

__all__ = [
    "MAX_BLOB_BYTES",
    "BlobError",
    "blob_uri",
    "fetch_blob",
    "make_blob_server",
    "store_blob",
]

MAX_BLOB_BYTES = 1 << 30
FETCH_TIMEOUT_SECONDS = 60.0
_CHUNK = 1 << 20
_NAME = re.compile(r"[0-9a-f]{64}")


class BlobError(Exception):
    """A blob cannot be fetched, is too large, or is not the one its hash names."""


def store_blob(directory: Path, data: bytes) -> tuple[Path, bytes]:
    """Write data to directory/<sha256 hex> (durably, whole or not at all); return the path and digest."""
    digest = hashlib.sha256(data).digest()
    path = Path(directory) / digest.hex()
    if not path.exists() or path.stat().st_size != len(data):
        write_atomically(path, data, mode=0o644)
    return path, digest


def blob_uri(path: Path, base_url: str | None = None) -> str:
    """The URI of a stored blob: base_url + its name when served, else file:// of its absolute path."""
    if base_url:
        return base_url.rstrip("/") + "/" + Path(path).name
    return Path(path).resolve().as_uri()


def _read_capped(stream, uri: str, max_bytes: int) -> bytes:  # noqa: ANN001 - any binary stream
    """Read stream to its end, refusing more than max_bytes."""
    chunks, total = [], 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise BlobError(f"{uri} is larger than the {max_bytes:,} bytes a blob may have")
        chunks.append(chunk)
    return b"".join(chunks)


def _download(uri: str, max_bytes: int) -> bytes:
    """The bytes at uri (file://, http:// or https://), at most max_bytes."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise BlobError(f"{uri}: a file:// URI names a local path (file:///abs/path), not a host")
        path = Path(urllib.parse.unquote(parsed.path))
        try:
            with path.open("rb") as handle:
                return _read_capped(handle, uri, max_bytes)
        except OSError as e:
            raise BlobError(f"cannot read {uri}: {e.strerror or e}") from None
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BlobError(f"unsupported URI {uri!r}: use file:///path, http://host/path or https://host/path")
    try:
        with urllib.request.urlopen(uri, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise BlobError(
                    f"{uri} declares {int(declared):,} bytes, more than the {max_bytes:,} allowed"
                )
            return _read_capped(response, uri, max_bytes)
    except urllib.error.HTTPError as e:
        raise BlobError(f"cannot fetch {uri}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise BlobError(f"cannot fetch {uri}: {reason}") from None


def fetch_blob(uri: str, expected: bytes, max_bytes: int = MAX_BLOB_BYTES) -> bytes:
    """The blob at uri, which must hash to expected (SHA-256); BlobError otherwise."""
    data = _download(uri, max_bytes)
    digest = hashlib.sha256(data).digest()
    if digest != expected:
        raise BlobError(
            f"{uri} hashes to {digest.hex()}, but the task committed to {expected.hex()}: refused "
            "(the file was changed or is not this task's)"
        )
    return data


class _BlobHandler(http.server.BaseHTTPRequestHandler):
    """GET and HEAD of /<sha256 hex> from the server's directory; nothing else."""

    server_version = "synod-blob/1"
    directory: Path  # set on the subclass make_blob_server builds

    def _blob(self) -> Path | None:
        """The requested blob's path, or None (after answering 404) for any other request."""
        name = urllib.parse.urlparse(self.path).path.lstrip("/")
        path = self.directory / name
        if not _NAME.fullmatch(name) or not path.is_file():
            self.send_error(404, "no such blob")
            return None
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Cache-Control", "public, max-age=31536000, immutable")
        self.end_headers()
        return path

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's handler name
        """Headers only."""
        self._blob()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's handler name
        """The blob's bytes."""
        path = self._blob()
        if path is not None:
            with path.open("rb") as handle:
                shutil.copyfileobj(handle, self.wfile, _CHUNK)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        """One line per request on stderr, without the stdlib's reverse DNS lookups."""
        print(f"{self.client_address[0]} {format % args}", file=sys.stderr, flush=True)


def make_blob_server(directory: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """A server for the blobs in directory (serve_forever to run it); port 0 picks a free one."""
    root = Path(directory).resolve()
    if not root.is_dir():
        raise BlobError(f"{directory} is not a directory")
    handler = type("BlobHandler", (_BlobHandler,), {"directory": root})
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        raise BlobError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
