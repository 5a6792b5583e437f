"""`synod keys`: manage local keys in the unencrypted test keyring (Cosmos SDK conventions)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from app.client.keyring import KeyInfo, Keyring, KeyringError
from cli.common import home_option, output_option

__all__ = ["keys"]

_UNENCRYPTED_WARNING = (
    "WARNING: this is the unencrypted test keyring: anyone who can read {directory} can spend "
    "these funds. Use it for local development only."
)
_MNEMONIC_WARNING = (
    "**Important** write this mnemonic phrase in a safe place.\n"
    "It is the only way to recover your account if you lose the key file."
)


@contextmanager
def _keyring_errors() -> Iterator[None]:
    """Report keyring failures as click errors (exit code 1, message says what to do)."""
    try:
        yield
    except KeyringError as err:
        raise click.ClickException(str(err)) from err


def _as_dict(info: KeyInfo) -> dict[str, str]:
    """The JSON form of a key."""
    return {"name": info.name, "address": info.address, "pubkey": info.public_key.hex()}


def _as_text(info: KeyInfo) -> str:
    """The text form of a key, one YAML-like list item."""
    return f"- name: {info.name}\n  address: {info.address}\n  pubkey: {info.public_key.hex()}"


def _read_mnemonic() -> str:
    """Read a mnemonic: a hidden prompt on a terminal, else one line of stdin (for pipes)."""
    if sys.stdin.isatty():
        return str(click.prompt("Enter your bip39 mnemonic", hide_input=True))
    return sys.stdin.readline()


@click.group()
def keys() -> None:
    """Manage local keys (unencrypted test keyring: for development only)."""


@keys.command()
@click.argument("name")
@click.option("--recover", is_flag=True, help="Restore a key from an existing bip39 mnemonic.")
@home_option
@output_option
def add(name: str, recover: bool, home: str, output: str) -> None:
    """Create key NAME from a new mnemonic, or restore one with --recover."""
    keyring = Keyring(home)
    mnemonic = None
    if recover:
        mnemonic = _read_mnemonic()
        if not mnemonic.strip():
            raise click.ClickException("no mnemonic given: type or pipe the bip39 words")
    with _keyring_errors():
        info, words = keyring.add(name, mnemonic)
    click.echo(_UNENCRYPTED_WARNING.format(directory=keyring.directory), err=True)
    if output == "json":
        record = _as_dict(info) | ({} if recover else {"mnemonic": words})
        click.echo(json.dumps(record))
        return
    click.echo(_as_text(info))
    if not recover:
        # Like the Cosmos SDK, the mnemonic goes to stderr so stdout stays safe to pipe or log.
        click.echo(f"\n{_MNEMONIC_WARNING}\n\n{words}", err=True)


@keys.command(name="list")
@home_option
@output_option
def list_(home: str, output: str) -> None:
    """List all keys, sorted by name."""
    with _keyring_errors():
        infos = Keyring(home).list()
    if output == "json":
        click.echo(json.dumps([_as_dict(info) for info in infos]))
    elif not infos:
        click.echo(f"No keys found: create one with `synod keys add NAME --home {home}`")
    else:
        click.echo("\n".join(_as_text(info) for info in infos))


@keys.command()
@click.argument("name_or_address")
@click.option("--address", "-a", "address_only", is_flag=True, help="Print the bare address only.")
@home_option
@output_option
def show(name_or_address: str, address_only: bool, home: str, output: str) -> None:
    """Show the key with this name or address."""
    with _keyring_errors():
        info = Keyring(home).get(name_or_address)
    if address_only:
        click.echo(info.address)
    elif output == "json":
        click.echo(json.dumps(_as_dict(info)))
    else:
        click.echo(_as_text(info))


@keys.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Delete without asking for confirmation.")
@home_option
def delete(name: str, yes: bool, home: str) -> None:
    """Delete key NAME; only its mnemonic can bring it back."""
    keyring = Keyring(home)
    with _keyring_errors():
        info = keyring.get(name)
        if info.name != name:
            raise KeyringError(f"delete takes a key name, not an address: use {info.name!r}")
        if not yes:
            click.confirm(f"Delete key {name!r} ({info.address})? It cannot be undone", abort=True)
        keyring.delete(name)
    click.echo(f"Key {name!r} deleted.")
