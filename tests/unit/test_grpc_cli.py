"""The CLI side of verified reads, in process: options, defaults and the errors a user sees first."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from app.client.grpc_query import normalize_address
from app.node.config import DEFAULT_GRPC_ADDRESS, AppConfig, NodeHome, write_app_config
from cli.common import resolve_grpc
from cli.light import parse_duration
from cli.main import cli

ADDRESS = "synod1zvt3rquq5rqqfrf56ga8m2hz52vz94qykztg98"


@pytest.mark.parametrize(
    ("text", "seconds"), [("604800", 604800), ("168h", 604800), ("90m", 5400), ("1h30m0s", 5400), ("45s", 45)]
)
def test_trusting_periods_parse_like_cometbft_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1d", "h", "0", "-5s", "1.5h"])
def test_bad_trusting_periods_are_refused(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_duration(text)


def test_grpc_address_comes_from_the_flag_then_app_toml_then_the_default(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "node")
    assert resolve_grpc(None, str(home.root)) == DEFAULT_GRPC_ADDRESS
    home.app_toml.parent.mkdir(parents=True)
    write_app_config(home, AppConfig(grpc_address="127.0.9.9:9191"))
    assert resolve_grpc(None, str(home.root)) == "127.0.9.9:9191"
    assert resolve_grpc("10.0.0.1:1", str(home.root)) == "10.0.0.1:1"
    assert [normalize_address(a) for a in ("tcp://h:1", "grpc://h:1", "h:1")] == ["h:1"] * 3


def test_every_state_query_takes_verify_and_grpc() -> None:
    runner = CliRunner()
    for group in ("auth account", "bank balances", "bank supply", "staking validators", "staking validator",
                  "staking delegations", "staking unbonding", "staking params", "slashing signing-infos",
                  "slashing evidence", "slashing params"):  # fmt: skip
        help_text = runner.invoke(cli, ["query", *group.split(), "--help"]).output
        assert "--verify" in help_text and "--grpc" in help_text, group


def test_verify_without_a_trusted_header_says_to_run_light_init(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["query", "bank", "balances", ADDRESS, "--verify", "--home", str(tmp_path), "--grpc", "127.0.0.1:1"],
    )
    assert result.exit_code == 1 and "synod light init" in result.output
    status = CliRunner().invoke(cli, ["light", "status", "--home", str(tmp_path)])
    assert status.exit_code == 1 and "synod light init" in status.output


def test_a_trust_hash_needs_its_height(tmp_path: Path) -> None:
    args = ["light", "init", "--home", str(tmp_path), "--node", "http://127.0.0.1:1", "--chain-id", "c"]
    result = CliRunner().invoke(cli, [*args, "--trust-hash", "AB" * 32])
    assert result.exit_code == 1 and "--trust-height" in result.output
    result = CliRunner().invoke(cli, [*args, "--trust-height", "2", "--trust-hash", "zz"])
    assert result.exit_code == 2 and "not hex" in result.output


def test_an_agent_refused_by_verification_names_the_failed_check() -> None:
    import click

    from app.client.light import InsufficientVotingPower
    from app.client.verified import StaleAnswer
    from cli.light import verification_failures

    for error, name in [
        (StaleAnswer("12 blocks behind"), "StaleAnswer"),
        (InsufficientVotingPower(1, 9, "h 5"), "InsufficientVotingPower"),
    ]:
        with (
            pytest.raises(click.ClickException, match=f"verification failed: {name}"),
            verification_failures(),
        ):
            raise error


_GOOD_TRUST = '{"chain_id": "c", "height": 2, "hash": "' + "AB" * 32 + '", "period_seconds": 60}'


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "is not JSON"),
        (b"\xff\xfe", "is not JSON"),  # not UTF-8
        (b"", "is not JSON"),
        (b"[1, 2]", "holds a JSON list, not an object"),
        (b'{"chain_id": "c", "height": 2}', "lacks hash, period_seconds"),
        (_GOOD_TRUST.replace('"c"', "7").encode(), "chain_id must be a non-empty string"),
        (_GOOD_TRUST.replace('"c"', '""').encode(), "chain_id must be a non-empty string"),
        (_GOOD_TRUST.replace('"height": 2', '"height": "2"').encode(), "height must be a positive integer"),
        (_GOOD_TRUST.replace('"height": 2', '"height": true').encode(), "height must be a positive integer"),
        (_GOOD_TRUST.replace('"height": 2', '"height": -1').encode(), "height must be a positive integer"),
        (_GOOD_TRUST.replace(": 60", ": 1.5").encode(), "period_seconds must be a positive integer"),
        (_GOOD_TRUST.replace("AB" * 32, "ZZ" * 32).encode(), "hash must be 32 bytes of hex"),
        (_GOOD_TRUST.replace("AB" * 32, "AB" * 31).encode(), "hash must be 32 bytes of hex"),
        (_GOOD_TRUST.replace('"' + "AB" * 32 + '"', "null").encode(), "hash must be 32 bytes of hex"),
    ],
)
def test_a_malformed_trust_json_is_a_one_line_error_naming_the_file(
    tmp_path: Path, content: bytes, says: str
) -> None:
    trust = tmp_path / "light" / "trust.json"
    trust.parent.mkdir()
    trust.write_bytes(content)
    for args in (
        ["light", "status", "--home", str(tmp_path)],
        ["query", "bank", "balances", ADDRESS, "--verify", "--home", str(tmp_path), "--grpc", "127.0.0.1:1"],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, (args, result.output, result.exception)
        assert result.output.startswith(f"Error: {trust}") and says in result.output, result.output
        assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_a_well_formed_trust_json_loads(tmp_path: Path) -> None:
    from app.client.verified import load_trust

    (tmp_path / "trust.json").write_text(_GOOD_TRUST)
    state = load_trust(tmp_path)
    assert (state.chain_id, state.height, state.hash, state.period_seconds) == ("c", 2, b"\xab" * 32, 60)


def test_an_unreadable_trust_json_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "light" / "trust.json").mkdir(parents=True)  # a directory where the file should be
    result = CliRunner().invoke(cli, ["light", "status", "--home", str(tmp_path)])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and "cannot be read" in result.output
