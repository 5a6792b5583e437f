"""The `synod` command line."""

from __future__ import annotations

import click

from cli.keys import keys

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synod", prog_name="synod")
def cli() -> None:
    """Synod: an application-specific blockchain for decentralized machine learning."""


cli.add_command(keys)


def main() -> None:
    """Console-script entry point."""
    cli()
