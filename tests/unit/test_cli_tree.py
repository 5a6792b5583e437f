"""The shape of the `synod` command tree: one signing convention for every `synod tx` command."""

from __future__ import annotations

from collections.abc import Iterator

import click

from cli.main import cli


def _leaves(group: click.Group, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under group, with its path."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaves(command, (*path, name))
        else:
            yield (*path, name), command


def _tx_commands() -> list[tuple[tuple[str, ...], click.Command]]:
    """Every `synod tx ...` command."""
    tx = cli.commands["tx"]
    assert isinstance(tx, click.Group)
    return list(_leaves(tx, ("tx",)))


def test_every_tx_command_but_bank_send_is_signed_by_a_required_from_option() -> None:
    checked = 0
    for path, command in _tx_commands():
        params = {p.name: p for p in command.params}
        signer = params["from_key"]
        if path == ("tx", "bank", "send"):
            # As in Cosmos SDK's simd: `tx bank send FROM TO AMOUNT`.
            assert isinstance(signer, click.Argument), path
            continue
        assert isinstance(signer, click.Option) and signer.opts == ["--from"], path
        assert signer.required, path
        assert "keyring" in (signer.help or ""), path
        checked += 1
    assert checked == 15  # staking 4, task 5, committee 2, consensus 4


def test_no_tx_command_takes_a_positional_key() -> None:
    for path, command in _tx_commands():
        positional = [p.name for p in command.params if isinstance(p, click.Argument)]
        assert "from_key" not in positional or path == ("tx", "bank", "send"), path
