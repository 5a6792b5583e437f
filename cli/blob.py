"""`synod blob serve DIR`: a content-addressed file server for task evaluation data.

`synod tx task post --eval-data FILE` writes the evaluation rows as a blob named by its SHA-256 into
--blob-dir (default HOME/blobs). Serve that directory, post with --eval-url http://HOST:PORT, and
every committee member and plotter fetches the rows from here and checks them against the task's
hash (app/client/blobs.py). A localnet sharing one disk needs no server: the default is file://.
"""

from __future__ import annotations

import signal
from pathlib import Path

import click

from cli.common import stop_on_sigterm

__all__ = ["blob"]


@click.group("blob")
def blob() -> None:
    """Serve the content-addressed blobs tasks name (evaluation data)."""


@blob.command("serve")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--listen", default="127.0.0.1:8765", show_default=True, help="HOST:PORT to serve on (port 0: any free)."
)
def serve(directory: Path, listen: str) -> None:
    """Serve every blob in DIRECTORY at http://HOST:PORT/<sha256 hex> until Ctrl-C or SIGTERM."""
    from app.client.blobs import BlobError, make_blob_server

    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:8765", param_hint="--listen")
    try:
        server = make_blob_server(directory, host or "127.0.0.1", int(port))
    except BlobError as e:
        raise click.ClickException(str(e)) from None
    bound_host, bound_port = server.server_address[:2]
    count = sum(1 for p in directory.iterdir() if len(p.name) == 64)
    click.echo(f"serving {count} blobs from {directory} at http://{bound_host}:{bound_port}/", err=True)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
