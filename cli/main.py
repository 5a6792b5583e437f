"""The `synod` command line."""

from __future__ import annotations

import click

from cli.keys import keys
from cli.localnet import localnet
from cli.node import init, start, status
from cli.query import query
from cli.tx import tx

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synod", prog_name="synod")
def cli() -> None:
    """Synod: an application-specific blockchain for decentralized machine learning."""


for _command in (init, start, status, keys, tx, query, localnet):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli()
