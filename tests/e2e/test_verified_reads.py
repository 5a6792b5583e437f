"""Verified reads end to end on a real four-validator `synod localnet`.

Each node serves gRPC queries on its own 127.0.X.(i+1):9090. A client trusts one header and then
accepts an answer only if its proofs lead to the app hash of a header it verified itself: through
the CLI (`synod light init`, `synod query ... --verify`) and through VerifiedQuerier. A stand-in
gRPC server forwards to a real node and tampers with the answers; a forging header source serves
commits signed by too little power or by a made-up validator set. CometBFT's own `cometbft light`
proxy, trusting the same header, must agree with our light client on every header compared.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.protobuf.message import Message

from app.client.accounts import get_balances
from app.client.grpc_query import GrpcQueryClient
from app.client.light import (
    HeaderExpired,
    HeaderFromFuture,
    InsufficientVotingPower,
    InvalidValidatorSet,
    LightClient,
    TrustedStore,
    TrustOptions,
)
from app.client.light.hashing import header_hash
from app.client.light.types import SignedHeader
from app.client.rpc import CometRPC
from app.client.verified import (
    Freshness,
    StaleAnswer,
    TamperedAnswer,
    TamperedEntry,
    VerifiedQuerier,
    WrongHeight,
    WrongKey,
)
from app.client.verified.txproof import verify_tx, verify_tx_proof
from app.core.codec import decode_amount, encode_amount
from app.node import localnet as net
from app.node.toolchain import check_cometbft, find_binary
from cli.query.common import DEFAULT_MAX_LAG
from synod.auth.v1 import query_pb2 as auth_query
from synod.bank.v1 import query_pb2 as bank_query
from synod.staking.v1 import query_pb2 as staking_query
from synod.tasks.v1 import query_pb2 as tasks_query
from tests.e2e.localnet_helpers import Localnet, running_localnet, synod_json, wait_until
from tests.e2e.nodes import free_port, synod
from tests.e2e.tampering import ForgingSource, StandIn, drop_two_signatures, forge_validator_set

pytestmark = pytest.mark.e2e

VALIDATORS = 4
POWER = 1_000_000
DELEGATED_POWER = 600_000  # node1: 1.0M -> 1.6M of 4.6M, a different set hash
WEEK = 7 * 24 * 3600


@pytest.fixture(scope="module")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    directory = tmp_path_factory.mktemp("verified-reads") / "run"
    with running_localnet(directory, VALIDATORS, salt=53) as network:
        network.wait_all(3)
        yield network


def _grpc(localnet: Localnet, index: int = 0) -> str:
    return net.grpc_address(localnet.spec, index)


def _rpc_url(localnet: Localnet, index: int) -> str:
    return net.rpc_address(localnet.spec, index).replace("tcp://", "http://")


def _light(
    localnet: Localnet, directory: Path, height: int, source: object = None, **kw: object
) -> LightClient:
    """Our light client trusting `height` (hash read from node0), over source (default: node0's RPC)."""
    block_hash = bytes.fromhex(localnet.rpc[0].block(height)["block_id"]["hash"])
    rpc = source if source is not None else localnet.rpc[0]
    options = TrustOptions(height, block_hash, WEEK)
    return LightClient(localnet.spec.chain_id, rpc, TrustedStore(directory), options, **kw)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class SetChange:
    """A delegation that changed CometBFT's validator set: a height before, the first after, the tx."""

    before: int
    after: int
    txhash: str


@pytest.fixture(scope="module")
def set_change(localnet: Localnet) -> SetChange:
    """Delegate to node1 so that its power, and so the validator set hash, changes."""
    before = localnet.height()
    amount = f"{DELEGATED_POWER * 10**6}usyn"
    result = localnet.tx("staking", "delegate", "--from", "validator", localnet.operator(1), amount, via=0)
    after = result["height"] + 2  # validator updates returned at H take effect at H+2
    localnet.wait_all(after + 1, nodes=[0])
    assert localnet.powers(after)[localnet.consensus_address(1)] == POWER + DELEGATED_POWER
    return SetChange(before, after, result["txhash"])


# ---------------------------------------------------------------- the CLI


def test_cli_verifies_balances_and_validators(localnet: Localnet, tmp_path: Path) -> None:
    client, rpc0 = str(tmp_path / "client"), _rpc_url(localnet, 0)
    where = ("--home", client, "--node", rpc0, "--grpc", _grpc(localnet))
    init = synod("light", "init", "--home", client, "--node", rpc0)
    assert "trusted header 1 of synod-localnet" in init.stdout and "trust on first use" in init.stdout
    assert "source you trust" in init.stderr

    operator = localnet.operator(2)
    verified = synod_json("query", "bank", "balances", operator, "--verify", *where)
    unverified = get_balances(localnet.rpc[0], operator)
    assert verified["balances"] == [{"denom": c.denom, "amount": c.amount} for c in unverified]
    height = verified["verified_height"]

    text = synod("query", "staking", "validators", "--verify", *where).stdout.splitlines()
    assert len(text) == 1 + VALIDATORS + 1 and text[-1].startswith("verified at height ")
    assert int(text[-1].split()[-1]) >= height
    status = synod_json("light", "status", "--home", client)
    assert status["trust_height"] == 1 and status["latest_height"] > height and status["expired"] is False


def test_cli_trusts_a_given_header_and_reads_the_grpc_address_from_the_node_home(localnet: Localnet) -> None:
    home, height = localnet.home(0), 2
    block_hash = localnet.rpc[0].block(height)["block_id"]["hash"]
    synod(
        "light", "init", "--home", home, "--trust-height", str(height), "--trust-hash", block_hash, "--force"
    )
    account = localnet.query("auth", "account", localnet.operator(0), "--verify")
    assert account["address"] == localnet.operator(0) and account["verified_height"] > 2
    wrong = synod(
        "light",
        "init",
        "--home",
        home,
        "--trust-height",
        "3",
        "--trust-hash",
        block_hash,
        "--force",
        check=False,
    )
    assert wrong.returncode != 0 and "InvalidHeaderHash" in wrong.stderr


# ---------------------------------------------------------------- across a validator-set change


def test_verification_crosses_a_validator_set_change(
    localnet: Localnet, set_change: SetChange, tmp_path: Path
) -> None:
    light = _light(localnet, tmp_path, set_change.before, source=localnet.rpc[3])
    with GrpcQueryClient(_grpc(localnet, 2)) as client:
        answer = VerifiedQuerier(client, light).query(
            "staking", "Validators", staking_query.QueryValidatorsRequest()
        )
    anchor, verified = light.store.load(set_change.before), light.store.load(answer.height + 1)
    assert anchor is not None and verified is not None
    assert anchor.header.validators_hash != verified.header.validators_hash, "no set change was crossed"
    powers = {
        v.operator_address: p for v, p in zip(answer.answer.validators, answer.answer.powers, strict=True)
    }
    assert powers[localnet.operator(1)] == POWER + DELEGATED_POWER
    # The powers the app proved at H are the set CometBFT runs at H+2.
    localnet.wait_all(answer.height + 2, nodes=[0])
    comet = localnet.powers(answer.height + 2)
    assert sorted(comet.values()) == sorted(powers.values())


def test_a_transaction_is_verified_by_inclusion_and_result(
    localnet: Localnet, set_change: SetChange, tmp_path: Path
) -> None:
    client, rpc0 = str(tmp_path / "client"), _rpc_url(localnet, 0)
    synod("light", "init", "--home", client, "--node", rpc0)
    shown = synod_json("query", "tx", set_change.txhash, "--verify", "--home", client, "--node", rpc0)
    height = set_change.after - 2
    assert (shown["height"], shown["code"], shown["verified_heights"]) == (height, 0, [height, height + 1])

    light = _light(localnet, tmp_path / "light", 2)
    found = localnet.rpc[0].tx(set_change.txhash)
    assert found is not None
    assert verify_tx(light, localnet.rpc[0], bytes.fromhex(set_change.txhash), found).gas_used > 0
    found["tx_result"]["code"] = 5  # a node claiming the delegation failed
    with pytest.raises(TamperedAnswer, match="proven result"):
        verify_tx(light, localnet.rpc[0], bytes.fromhex(set_change.txhash), found)

    # The REST gateway's lookup with ?verify=true carries the two Merkle paths; they prove the same.
    api = net.api_address(localnet.spec, 0)
    url = f"http://{api}/cosmos/tx/v1beta1/txs/{set_change.txhash}?verify=true"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    tx_hash = bytes.fromhex(set_change.txhash)
    proven = verify_tx_proof(light, tx_hash, body["proof"], body["tx_response"])
    assert proven == verify_tx(light, localnet.rpc[0], tx_hash, localnet.rpc[0].tx(set_change.txhash))
    lied = {**body["tx_response"], "code": 5}
    with pytest.raises(TamperedAnswer, match="proven result"):
        verify_tx_proof(light, tx_hash, body["proof"], lied)
    flipped = json.loads(json.dumps(body["proof"]))
    aunt = bytearray(base64.b64decode(flipped["result"]["aunts"][0]))
    aunt[0] ^= 1
    flipped["result"]["aunts"][0] = base64.b64encode(aunt).decode()
    with pytest.raises(TamperedEntry, match="last_results_hash"):
        verify_tx_proof(light, tx_hash, flipped, body["tx_response"])
    with pytest.raises(TamperedAnswer, match="malformed"):
        verify_tx_proof(light, tx_hash, {"inclusion": {"tx": "!!"}}, body["tx_response"])


# ---------------------------------------------------------------- a lying gRPC server


def _bump_value(response) -> None:  # noqa: ANN001
    entry = response.proof.entries[0]
    entry.value = encode_amount(decode_amount(entry.value) + 1)


def _flip_proof(response) -> None:  # noqa: ANN001
    proof = bytearray(response.proof.entries[0].proof)
    proof[len(proof) // 2] ^= 0x01
    response.proof.entries[0].proof = bytes(proof)


def _earlier_height(response) -> None:  # noqa: ANN001
    response.proof.height -= 1


def _bump_answer(response) -> None:  # noqa: ANN001
    response.balances[0].amount = str(int(response.balances[0].amount) + 1)


def _proof_of_another_key(upstream: GrpcQueryClient, mine: Message, other: Message) -> Callable:
    """Swap in the entries proving `other`'s account instead of `mine`'s, valid at the same height."""

    def tamper(response) -> None:  # noqa: ANN001
        while True:
            swapped = upstream.call("auth", "Account", other)
            if swapped.proof.height == response.proof.height:
                break
            # Both reads must prove against one app hash, or it is the root check that fails.
            response.CopyFrom(upstream.call("auth", "Account", mine))
        response.proof.ClearField("entries")
        response.proof.entries.extend(swapped.proof.entries)

    return tamper


@pytest.fixture
def standin(localnet: Localnet) -> Iterator[StandIn]:
    """A tampering stand-in for node1's gRPC server (honest until told otherwise)."""
    server = StandIn(_grpc(localnet, 1))
    try:
        yield server
    finally:
        server.close()


def test_tampered_answers_are_rejected_with_the_named_reason(
    localnet: Localnet, standin: StandIn, tmp_path: Path
) -> None:
    with GrpcQueryClient(standin.address) as client:
        querier = VerifiedQuerier(client, _light(localnet, tmp_path, 2))
        balances = bank_query.QueryAllBalancesRequest(address=localnet.operator(3))
        assert querier.query("bank", "AllBalances", balances).answer.balances  # honest: accepted
        cases = [
            (_bump_value, TamperedEntry, "value or the proof was tampered with"),
            (_flip_proof, TamperedEntry, "value or the proof was tampered with"),
            (_earlier_height, WrongHeight, "another height"),
            (_bump_answer, TamperedAnswer, "balances"),
        ]
        for tamper, error, reason in cases:
            standin.tamper = tamper
            with pytest.raises(error, match=reason):
                querier.query("bank", "AllBalances", balances)

        mine, other = (auth_query.QueryAccountRequest(address=localnet.operator(i)) for i in (2, 1))
        standin.tamper = _proof_of_another_key(standin.upstream, mine, other)
        with pytest.raises(WrongKey, match="proof for another key"):
            querier.query("auth", "Account", mine)


def test_the_cli_fails_on_a_tampered_answer(localnet: Localnet, standin: StandIn, tmp_path: Path) -> None:
    standin.tamper = _bump_value
    where = ("--home", str(tmp_path / "cli"), "--node", _rpc_url(localnet, 0))
    synod("light", "init", *where)
    refused = synod(
        "query",
        "bank",
        "balances",
        localnet.operator(3),
        "--verify",
        *where,
        "--grpc",
        standin.address,
        check=False,
    )
    assert refused.returncode != 0 and "verified at" not in refused.stdout
    assert "verification failed: TamperedEntry" in refused.stderr


# ---------------------------------------------------------------- tasks: a checkpoint, stale state


@pytest.fixture(scope="module")
def task_id(localnet: Localnet) -> int:
    """A task posted through node0: its round-0 checkpoint (the initial model) is on chain at once."""
    return int(localnet.tx("task", "post", "--from", "validator", "--rounds", "1", via=0)["task_id"])


def _flip_weight(response) -> None:  # noqa: ANN001
    if isinstance(response, tasks_query.QueryModelResponse):  # the task itself is served honestly
        response.weights = bytes([response.weights[0] ^ 1]) + response.weights[1:]


def _flip_checkpoint_entry(response) -> None:  # noqa: ANN001
    entry = max(response.proof.entries, key=lambda e: len(e.value))  # the weights, by content hash
    entry.value = bytes([entry.value[0] ^ 1]) + entry.value[1:]


def test_a_tampered_checkpoint_is_refused(
    localnet: Localnet, standin: StandIn, task_id: int, tmp_path: Path
) -> None:
    request = tasks_query.QueryModelRequest(task_id=task_id, round=0)
    with GrpcQueryClient(standin.address) as client:
        querier = VerifiedQuerier(client, _light(localnet, tmp_path, 2))
        honest = querier.query("tasks", "Model", request).answer
        assert hashlib.sha256(honest.weights).digest() == honest.round.model_hash
        for tamper, error, reason in [
            (_flip_weight, TamperedAnswer, "weights"),
            (_flip_checkpoint_entry, TamperedEntry, "tampered with"),
        ]:
            standin.tamper = tamper
            with pytest.raises(error, match=reason):
                querier.query("tasks", "Model", request)
    standin.tamper = _flip_weight
    where = ("--home", str(tmp_path / "cli"), "--node", _rpc_url(localnet, 0))
    synod("light", "init", *where)
    refused = synod(
        "query", "task", "model", str(task_id), "--round", "0", "--verify", "--out", str(tmp_path / "m.npz"),
        *where, "--grpc", standin.address, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "verification failed: TamperedAnswer" in refused.stderr
    assert not (tmp_path / "m.npz").exists()


def test_a_node_serving_old_state_is_refused_as_stale(
    localnet: Localnet, standin: StandIn, task_id: int, tmp_path: Path
) -> None:
    request = tasks_query.QueryTaskRequest(task_id=task_id)
    old = standin.upstream.call("tasks", "Task", request)  # honest, proven, and soon old
    localnet.wait_all(old.proof.height + DEFAULT_MAX_LAG + 3, nodes=[0])
    standin.tamper = lambda response: response.CopyFrom(old)  # a node whose database stopped there
    with GrpcQueryClient(standin.address) as client:
        light = _light(localnet, tmp_path, 2)
        answer = VerifiedQuerier(client, light).query("tasks", "Task", request)  # no bound: it verifies
        assert answer.height == old.proof.height
        with pytest.raises(StaleAnswer, match="blocks behind the newest verified header"):
            VerifiedQuerier(client, light, freshness=Freshness(max_lag=DEFAULT_MAX_LAG)).query(
                "tasks", "Task", request
            )
        with pytest.raises(StaleAnswer, match="min-height"):
            VerifiedQuerier(client, light, freshness=Freshness(min_height=old.proof.height + 1)).query(
                "tasks", "Task", request
            )
    where = ("--home", str(tmp_path / "cli"), "--node", _rpc_url(localnet, 0), "--grpc", standin.address)
    synod("light", "init", *where[:4])
    refused = synod("query", "task", "show", str(task_id), "--verify", *where, check=False)
    assert refused.returncode != 0 and "verification failed: StaleAnswer" in refused.stderr
    fresh = synod("query", "task", "show", str(task_id), "--verify", *where[:4], "--grpc", _grpc(localnet, 2))
    assert "verified at height" in fresh.stdout


# ---------------------------------------------------------------- grpcurl, the real tool


def test_grpcurl_lists_every_module_service_and_calls_one_method_of_each(
    localnet: Localnet, task_id: int
) -> None:
    grpcurl, address = find_binary("grpcurl"), _grpc(localnet, 0)
    listed = subprocess.run(
        [grpcurl, "-plaintext", address, "list"], capture_output=True, text=True, timeout=30
    )
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    modules = ("auth", "bank", "staking", "slashing", "tasks", "committee", "consensus")
    assert {f"synod.{m}.v1.Query" for m in modules} <= services, services
    assert "grpc.health.v1.Health" in services
    calls = {
        "auth": ("Account", {"address": localnet.operator(0)}),
        "bank": ("Supply", {}),
        "staking": ("Validators", {"pagination": {"limit": 2}}),
        "slashing": ("Params", {}),
        "tasks": ("Task", {"task_id": task_id}),
        "committee": ("Members", {}),
        "consensus": ("Params", {}),
    }
    for module, (method, body) in calls.items():
        called = subprocess.run(
            [grpcurl, "-plaintext", "-d", json.dumps(body), address, f"synod.{module}.v1.Query/{method}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert called.returncode == 0, f"{module}/{method}: {called.stderr}"
        answer = json.loads(called.stdout)
        assert int(answer["proof"]["height"]) > 0 and answer["proof"]["entries"], (
            f"{module}/{method}: {answer}"
        )
    described = subprocess.run(
        [grpcurl, "-plaintext", address, "describe", "synod.tasks.v1.Query"], capture_output=True, text=True
    )
    expected = (
        "rpc Model ( .synod.tasks.v1.QueryModelRequest ) returns ( .synod.tasks.v1.QueryModelResponse )"
    )
    assert expected in described.stdout, described.stdout + described.stderr


# ---------------------------------------------------------------- forged headers


@pytest.mark.parametrize(
    ("forge", "error", "reason"),
    [
        (drop_two_signatures, InsufficientVotingPower, "needs > 2/3"),
        (forge_validator_set, InvalidValidatorSet, "announced"),
    ],
    ids=["too-little-power", "forged-validator-set"],
)
def test_forged_commits_are_rejected(
    localnet: Localnet, tmp_path: Path, forge: Callable, error: type, reason: str
) -> None:
    anchor = localnet.height() - 1
    light = _light(localnet, tmp_path, anchor, source=ForgingSource(localnet.rpc[0], anchor, forge))
    with GrpcQueryClient(_grpc(localnet, 0)) as client, pytest.raises(error, match=reason):
        VerifiedQuerier(client, light).query("staking", "Validators", staking_query.QueryValidatorsRequest())


@pytest.mark.parametrize(
    ("shift", "error", "reason"),
    [(0, HeaderFromFuture, "beyond now"), (WEEK + 1, HeaderExpired, "expired")],
    ids=["future", "expired"],
)
def test_headers_outside_the_clock_window_are_rejected(
    localnet: Localnet, tmp_path: Path, shift: int, error: type, reason: str
) -> None:
    anchor = localnet.height() - 2
    seconds = int(localnet.header_time(anchor))
    light = _light(localnet, tmp_path, anchor, now_fn=lambda: (seconds + shift, 0), max_clock_drift_seconds=0)
    with GrpcQueryClient(_grpc(localnet, 0)) as client, pytest.raises(error, match=reason):
        VerifiedQuerier(client, light).query("bank", "Params", bank_query.QueryParamsRequest())


# ---------------------------------------------------------------- CometBFT's own light client


@pytest.fixture
def cometbft_light(localnet: Localnet, tmp_path: Path) -> Iterator[tuple[CometRPC, int]]:
    """`cometbft light` trusting block 2 with node0 as primary and node1 as witness."""
    anchor = 2
    block_hash = localnet.rpc[0].block(anchor)["block_id"]["hash"]
    port = free_port()
    args = [
        check_cometbft(), "light", localnet.spec.chain_id, "--primary", _rpc_url(localnet, 0),
        "--witnesses", _rpc_url(localnet, 1), "--height", str(anchor), "--hash", block_hash,
        "--laddr", f"tcp://127.0.0.1:{port}", "--home-dir", str(tmp_path / "cometbft-light"),
        "--home", str(tmp_path / "cometbft-home"), "--log_level", "error",
    ]  # fmt: skip
    log = (tmp_path / "cometbft-light.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    proxy = CometRPC(f"http://127.0.0.1:{port}", timeout=10)
    try:
        wait_until(
            "the cometbft light proxy", lambda: proc.poll() is None and proxy.commit(anchor), timeout=30
        )
        yield proxy, anchor
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_cometbft_light_proxy_agrees_with_our_light_client(
    localnet: Localnet, set_change: SetChange, cometbft_light: tuple[CometRPC, int], tmp_path: Path
) -> None:
    proxy, anchor = cometbft_light
    light = _light(localnet, tmp_path, anchor)
    with GrpcQueryClient(_grpc(localnet, 3)) as client:
        answer = VerifiedQuerier(client, light).query("bank", "Supply", bank_query.QuerySupplyRequest())
    before, after = set_change.before, set_change.after
    for height in sorted({anchor + 1, before, after, after + 1, answer.height + 1}):
        ours = light.verify_to_height(height)
        theirs = SignedHeader.from_rpc(proxy.commit(height)).header
        assert header_hash(ours) == header_hash(theirs), f"headers differ at {height}"
        assert (ours.app_hash, ours.validators_hash) == (theirs.app_hash, theirs.validators_hash)
    # The app hash our verified answer was checked against is the one CometBFT's client verified.
    assert answer.app_hash == SignedHeader.from_rpc(proxy.commit(answer.height + 1)).header.app_hash
