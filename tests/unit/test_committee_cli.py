"""`synod query committee ...`, `synod query task scores` and `synod query reputation` through click's
CliRunner, against the committee query routes over an in-memory store."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.client.keyring import Keyring
from app.modules.committee.keeper import CommitteeKeeper
from app.node.blskey import create_bls_key
from app.node.config import NodeHome
from app.state.kv import Branch
from cli.main import cli
from synod.committee.v1 import committee_pb2
from tests.integration.harness import CHAIN_ID, test_key
from tests.integration.staking_harness import StakingChain
from tests.unit.committee_fakes import ME, ChainNode, FakeNode
from tests.unit.rpc_fakes import abci_over_store
from tests.unit.test_committee_queries import OPERATORS, SEED, WORKERS, committee_state


class RouteNode:
    """A CometRPC stand-in answering abci queries with the module services over a store."""

    url = "http://route-node"

    def __init__(self, k: CommitteeKeeper, store: Branch) -> None:
        self.store = store

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict:
        return abci_over_store(self.store, path, data)


@pytest.fixture
def use_node(monkeypatch):  # noqa: ANN201
    """Point the committee query commands at a RouteNode over the given state."""

    def use(k: CommitteeKeeper, store: Branch) -> None:
        node = RouteNode(k, store)
        monkeypatch.setattr("cli.query.common.resolve_node", lambda _node, _home: node)

    return use


def _synod(tmp_path, *args: str, ok: bool = True) -> str:
    """Run `synod ARGS --home HOME`; return the output."""
    result = CliRunner().invoke(cli, [*args, "--home", str(tmp_path)])
    assert (result.exit_code == 0) == ok, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


def test_params_table_shows_size_capture_probability_and_whether_the_target_is_met(
    tmp_path, use_node
) -> None:
    use_node(*committee_state(members=3))
    text = _synod(tmp_path, "query", "committee", "params")
    data = json.loads(_synod(tmp_path, "query", "committee", "params", "-o", "json"))
    size = data["committee_size"]
    assert "committee size:" in text and f"{size} (max 64)" in text
    assert "eligible members:" in text and "capture at 3 seats:" in text
    assert "target met:" in text and "no: more members must opt in" in text
    p = data["capture_probability_ppb"] / 1e9
    assert f"{p * 100:.4g}% ({p:.2e})" in text and "e-0" in text  # as a percentage and in scientific form
    assert data["eligible_members"] == 3 and data["target_met"] is False
    assert data["adversarial_stake_bps"] == 3_000 and "30.00%" in text


def test_members_list(tmp_path, use_node) -> None:
    use_node(*committee_state())
    text = _synod(tmp_path, "query", "committee", "members")
    assert "OPERATOR" in text and all(o in text for o in OPERATORS)
    members = json.loads(_synod(tmp_path, "query", "committee", "members", "-o", "json"))["members"]
    assert members[0]["bls_pubkey"] == members[0]["bls_pubkey"][:2] * 48 and len(members) == 3


def test_show_committee_seats_workers_and_attestations(tmp_path, use_node) -> None:
    use_node(*committee_state())
    text = _synod(tmp_path, "query", "committee", "show", "1", "2")
    assert (
        "task 1 round 2, sampled at height 41" in text and "2 of target 7" in text and SEED.seed.hex() in text
    )
    seat_lines = {line.split()[0]: line for line in text.splitlines() if line.startswith(tuple(OPERATORS))}
    assert "yes" in seat_lines[OPERATORS[0]] and "79.00%" in seat_lines[OPERATORS[0]]
    assert " no " in seat_lines[OPERATORS[1]] + " "
    assert "81.00%" in text and "20.00% spot-check-failed" in text
    data = json.loads(_synod(tmp_path, "query", "committee", "show", "1", "2", "-o", "json"))
    assert data["committee"]["workers"] == WORKERS and data["committee"]["seed"]["seed"] == SEED.seed.hex()
    assert data["attestations"][0]["attester"] == OPERATORS[0]
    assert sorted(c["attester"] for c in data["commitments"]) == sorted(OPERATORS[:2])
    assert seat_lines[OPERATORS[1]].split()[2:4] == ["yes", "no"]  # committed, not revealed
    err = _synod(tmp_path, "query", "committee", "show", "1", "9", ok=False)
    assert "no committee for this task and round" in err and "synod query task show 1" in err


def test_seed(tmp_path, use_node) -> None:
    use_node(*committee_state())
    text = _synod(tmp_path, "query", "committee", "seed")
    assert SEED.seed.hex() in text and "40 (the block that carried the shares)" in text
    assert json.loads(_synod(tmp_path, "query", "committee", "seed", "-o", "json"))["shares"] == 3


def test_dkg_and_epoch_seed(tmp_path, use_node) -> None:
    k, store = committee_state()
    use_node(k, store)
    assert "none in progress" in _synod(tmp_path, "query", "committee", "dkg")
    group = committee_pb2.Group(
        id=3, activation_height=17, threshold=1, public_key=b"\x05" * 48, qualified=[1, 2]
    )
    k.set_group(store, group)
    k.set_dkg(store, committee_pb2.Dkg(id=4, start_height=30, threshold=1))
    text = _synod(tmp_path, "query", "committee", "dkg")
    assert "4: 0 members, t = 1, deals from 30" in text and ("05" * 48) in text and "qualified [1, 2]" in text
    assert json.loads(_synod(tmp_path, "query", "committee", "dkg", "-o", "json"))["group"]["id"] == "3"
    _synod(tmp_path, "query", "committee", "epoch-seed", "9", ok=False)  # none yet: a coded error
    k.set_epoch_seed(
        store, committee_pb2.Seed(height=19, epoch=9, group_id=3, seed=b"\x09" * 32, signature=b"s")
    )
    text = _synod(tmp_path, "query", "committee", "epoch-seed", "9")
    assert ("09" * 32) in text and "19 (the block that carried the group signature)" in text


def test_task_scores_per_update_and_per_member(tmp_path, use_node) -> None:
    use_node(*committee_state())
    text = _synod(tmp_path, "query", "task", "scores", "1", "2")
    assert "judged at height 44, baseline 79.00%" in text
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith("synod1")}
    assert lines[WORKERS[0]][1:] == ["accepted", "81.00%", "56.25%"]
    assert lines[WORKERS[1]][1:] == ["failed-spot-check", "0.00%", "43.75%"]
    assert lines[OPERATORS[1]][1:] == ["false", "true", "0.00%", "43.75%", "true"]
    data = json.loads(_synod(tmp_path, "query", "task", "scores", "1", "2", "-o", "json"))
    assert [u["verdict"] for u in data["updates"]] == ["accepted", "failed-spot-check"]
    assert data["members"][1]["slashed"] is True
    use_node(*committee_state(judged=False))
    err = _synod(tmp_path, "query", "task", "scores", "1", "2", ok=False)
    assert "not been judged yet" in err and "wait for it" in err


def test_reputation(tmp_path, use_node) -> None:
    use_node(*committee_state())
    assert "56.25%" in _synod(tmp_path, "query", "reputation", WORKERS[0])
    assert "50.00% (no record yet: the initial reputation)" in _synod(
        tmp_path, "query", "reputation", WORKERS[1]
    )
    assert json.loads(_synod(tmp_path, "query", "reputation", WORKERS[0], "-o", "json"))["observations"] == 1
    assert "Invalid value for ADDRESS: address 'synod1nope' is not valid bech32" in _synod(
        tmp_path, "query", "reputation", "synod1nope", ok=False
    )


# --- transactions and the agent ----------------------------------------------------------------


@pytest.fixture
def validator_home(tmp_path, monkeypatch):  # noqa: ANN201
    """A chain with validator0 bonded, its key in a keyring and a BLS key file in the home."""
    chain = StakingChain()
    chain.init({"validator0": 10**12}, {"validator0": 10**10})
    chain.block()
    node = ChainNode(chain)
    for module in ("cli.common", "cli.tx.committee"):
        monkeypatch.setattr(f"{module}.resolve_node", lambda _node, _home: node)
    (tmp_path / "config").mkdir()
    pubkey = create_bls_key(NodeHome(tmp_path).bls_key)
    Keyring(tmp_path).import_seed("validator0", test_key("validator0").seed)
    return chain, pubkey


def test_opt_in_proves_the_bls_key_and_opt_out_ends_duty(tmp_path, validator_home) -> None:
    chain, pubkey = validator_home
    use = ["--chain-id", CHAIN_ID, "--yes"]
    out = json.loads(
        _synod(tmp_path, "tx", "committee", "opt-in", "--from", "validator0", *use, "-o", "json")
    )
    assert out["code"] == 0
    members = list(chain.app.committee.iterate_members(chain.app.store.view))
    assert [(m.operator, m.bls_pubkey) for _, m in members] == [(test_key("validator0").address, pubkey)]
    again = _synod(tmp_path, "tx", "committee", "opt-in", "--from", "validator0", *use, ok=False)
    assert "already on committee duty" in again
    _synod(tmp_path, "tx", "committee", "opt-out", "--from", "validator0", *use)
    assert not list(chain.app.committee.iterate_members(chain.app.store.view))


def test_opt_in_without_a_bls_key_file_says_where_to_find_one(tmp_path, validator_home) -> None:
    missing = str(tmp_path / "nope.json")
    err = _synod(
        tmp_path, "tx", "committee", "opt-in", "--from", "validator0", "--bls-key", missing, ok=False
    )
    assert f"no BLS key at {missing}" in err and "--bls-key" in err
    (tmp_path / "bad.json").write_text("{}")
    err = _synod(
        tmp_path,
        "tx",
        "committee",
        "opt-in",
        "--from",
        "validator0",
        "--bls-key",
        str(tmp_path / "bad.json"),
        ok=False,
    )
    assert "is not a Synod BLS key file" in err


def test_committee_run_once_attests_and_prints_the_summary(tmp_path, monkeypatch) -> None:
    node = FakeNode()
    monkeypatch.setattr("cli.run.committee.resolve_node", lambda _node, _home: node)
    Keyring(tmp_path).import_seed("validator0", ME.seed)
    out = _synod(
        tmp_path, "committee", "run", "--key", "validator0", "--once", "-q", "--attack", "lazy:score=4200"
    )
    assert [s.score_bps for s in node.attestations[0].scores] == [4_200] * 3
    assert "attested 1 rounds" in out and "without evaluating (attack)" in out
    args = ["committee", "run", "--key", "validator0", "--once", "-q", "-o", "json", "--home", str(tmp_path)]
    data = json.loads(CliRunner().invoke(cli, args).stdout)  # stdout: the summary; the log goes to stderr
    assert data["records"] == [] and data["reputation_bps"] == 5_625  # restarted: nothing attested twice
    err = _synod(tmp_path, "committee", "run", "--key", "validator0", "--attack", "sign_flip", ok=False)
    assert "is a worker attack" in err
