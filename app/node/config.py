"""Node home layout, CometBFT config edits and genesis writing (used by `synod init` and localnet).

A home holds CometBFT's files and ours side by side, as in the Cosmos SDK:

    config/config.toml, config/genesis.json, config/*_key.json   (CometBFT)
    config/app.toml                                               (Synod: snapshots, gRPC address)
    config/bls_key.json                                           (Synod: the beacon's BLS key, 0600)
    data/                                                         (CometBFT's block and state stores)
    data/synod.db/                                                (the app's LevelDB)
    keyring/                                                      (local keys, app/client/keyring.py)
    log/cometbft.log                                              (CometBFT's output under `synod start`)
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format

from app.core.crypto import address_bytes_from_pubkey
from app.core.fsutil import write_atomically
from app.modules.consensus.genesis import default_genesis as consensus_default_genesis
from app.node.toolchain import check_cometbft
from app.state.store import DEFAULT_KEEP_RECENT

__all__ = [
    "NodeHome",
    "DEFAULT_DENOM",
    "GENESIS_VALIDATOR_FUNDS",
    "cometbft_init",
    "set_toml",
    "RPC_SETTINGS",
    "read_toml",
    "fast_block_settings",
    "LOCAL_P2P_SETTINGS",
    "write_app_genesis",
    "GenesisBond",
    "consensus_pubkey",
    "GENESIS_SELF_BOND",
    "VOTE_EXTENSIONS_HEIGHT",
    "AppConfig",
    "DEFAULT_API_ADDRESS",
    "DEFAULT_GRPC_ADDRESS",
    "DEFAULT_RETAIN_BLOCKS",
    "load_app_config",
    "write_app_config",
]

DEFAULT_DENOM = "usyn"
GENESIS_VALIDATOR_FUNDS = 1_000_000_000_000_000
# Bonded at genesis out of the funds above: 10^6 voting power at the default power reduction.
GENESIS_SELF_BOND = 1_000_000_000_000
# Votes carry extensions (the beacon shares) from the first block on; CometBFT 0.38 accepts 1.
VOTE_EXTENSIONS_HEIGHT = 1
# Blocks CometBFT keeps by default: the light client's 168 h trusting period at 0.5 s blocks, so a
# client whose trusted header has not expired finds every header it bisects to (and more than
# CometBFT's default evidence age, 100,000 blocks or 48 h).
DEFAULT_RETAIN_BLOCKS = 1_209_600
# Where the gRPC query server listens unless config/app.toml says otherwise (the Cosmos SDK's port).
DEFAULT_GRPC_ADDRESS = "127.0.0.1:9090"
# The REST gateway and /metrics (the Cosmos SDK's API port).
DEFAULT_API_ADDRESS = "127.0.0.1:1317"


@dataclass(frozen=True)
class GenesisBond:
    """A validator bonded in genesis: its operator account, CometBFT key, name and self-bond.

    With a BLS public key (its node's config/bls_key.json) it starts on committee duty.
    """

    operator_address: str
    consensus_pubkey: bytes
    moniker: str
    self_bond: int = GENESIS_SELF_BOND
    bls_pubkey: bytes = b""


class NodeHome:
    """Paths inside a node home."""

    def __init__(self, home: str | Path) -> None:
        self.root = Path(home).expanduser().resolve()

    @property
    def config_toml(self) -> Path:
        return self.root / "config" / "config.toml"

    @property
    def genesis(self) -> Path:
        return self.root / "config" / "genesis.json"

    @property
    def app_db(self) -> Path:
        return self.root / "data" / "synod.db"

    @property
    def snapshot_dir(self) -> Path:
        return self.root / "data" / "synod-snapshots"

    @property
    def app_toml(self) -> Path:
        return self.root / "config" / "app.toml"

    @property
    def bls_key(self) -> Path:
        """The node's beacon key (app/node/blskey.py)."""
        return self.root / "config" / "bls_key.json"

    @property
    def ensemble_dir(self) -> Path:
        """Where `synod ensemble run` leaves its model's fast-path predictions for ExtendVote."""
        return self.root / "data" / "ensemble"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def exists(self) -> bool:
        """True once `synod init` has run here."""
        return self.config_toml.exists() and self.genesis.exists()

    def require(self) -> None:
        """Raise a helpful error if the home was never initialised."""
        if not self.exists():
            raise FileNotFoundError(
                f"{self.root} is not a node home (no config/config.toml or genesis.json): "
                f"run `synod init --home {self.root} --chain-id CHAIN --moniker NAME` first"
            )


@dataclass(frozen=True)
class AppConfig:
    """Node-local app settings (config/app.toml); never part of consensus."""

    snapshot_interval: int = 100
    snapshot_keep_recent: int = 2
    # The newest heights whose Merkle trees are kept (0 keeps every height); app/state/store.py.
    state_keep_recent: int = DEFAULT_KEEP_RECENT
    # Ask CometBFT to keep the last N blocks, and every block from the oldest served snapshot on
    # (0 keeps all); the rule is in app/abci/handlers.py.
    retain_blocks: int = DEFAULT_RETAIN_BLOCKS
    # HOST:PORT of the gRPC query server ("" turns it off).
    grpc_address: str = DEFAULT_GRPC_ADDRESS
    # HOST:PORT of the REST gateway and /metrics ("" turns both off).
    api_address: str = DEFAULT_API_ADDRESS


def _write_text(path: Path, text: str) -> None:
    """Replace a node file durably: whole or not at all, on disk when this returns (a crash during
    `synod init` or a localnet's generation never leaves half a genesis or config)."""
    write_atomically(path, text.encode(), mode=0o644)


def write_app_config(home: NodeHome, cfg: AppConfig | None = None) -> None:
    """Write config/app.toml with the given settings (defaults if none)."""
    cfg = cfg or AppConfig()
    _write_text(
        home.app_toml,
        "# Synod app settings (node-local, not consensus)\n\n"
        "# Take a state-sync snapshot every N blocks (0 disables), keeping the newest K.\n"
        f"snapshot_interval = {cfg.snapshot_interval}\n"
        f"snapshot_keep_recent = {cfg.snapshot_keep_recent}\n\n"
        "# Keep the Merkle trees of the newest N heights (0 keeps every height; 1 the latest only).\n"
        f"state_keep_recent = {cfg.state_keep_recent}\n\n"
        "# CometBFT keeps the last N blocks and every block from the oldest snapshot served on\n"
        "# (ResponseCommit.retain_height); 0 keeps every block (an archive node).\n"
        f"retain_blocks = {cfg.retain_blocks}\n\n"
        "# gRPC query server (verified reads: answers carry Merkle proofs); an empty string turns it off.\n"
        f'grpc_address = "{cfg.grpc_address}"\n\n'
        "# REST gateway (JSON for every query, tx broadcast, /openapi.json) and Prometheus /metrics;\n"
        "# an empty string turns it off.\n"
        f'api_address = "{cfg.api_address}"\n',
    )


def load_app_config(home: NodeHome) -> AppConfig:
    """Read config/app.toml; defaults where it or a key is absent, an error for unknown keys."""
    if not home.app_toml.exists():
        return AppConfig()
    doc = read_toml(home.app_toml)
    unknown = sorted(set(doc) - set(AppConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{home.app_toml}: unknown settings {unknown}")
    return AppConfig(**doc)


def cometbft_init(home: NodeHome) -> None:
    """Create CometBFT's config, keys and genesis with the pinned binary."""
    binary = check_cometbft()
    subprocess.run([binary, "init", "--home", str(home.root)], check=True, capture_output=True, text=True)


_SECTION_RE = re.compile(r"\[([^\]]+)\]\s*")


def set_toml(path: Path, settings: dict[tuple[str, str], str]) -> None:
    """Set existing `key = value` lines by (section, key); values are TOML literals.

    CometBFT writes every key of its config, so editing lines in place keeps its comments. A key
    that is not found is an error (it would mean the pinned CometBFT changed its config layout).
    """
    lines = path.read_text().splitlines()
    section = ""
    pending = dict(settings)
    for i, line in enumerate(lines):
        m = _SECTION_RE.fullmatch(line)
        if m:
            section = m.group(1)
            continue
        key = line.split("=", 1)[0].strip()
        if "=" in line and (section, key) in pending:
            lines[i] = f"{key} = {pending.pop((section, key))}"
    if pending:
        raise KeyError(f"{path}: keys not found: {sorted(pending)}")
    _write_text(path, "\n".join(lines) + "\n")


def read_toml(path: Path) -> dict:
    """Parse a TOML file."""
    import tomllib

    with path.open("rb") as f:
        return tomllib.load(f)


# CometBFT's RPC refuses request bodies over 1,000,000 bytes by default, below a base64-encoded
# transaction of auth's max_tx_bytes (1 MiB: a 200k-parameter checkpoint or update). 3 MB leaves room.
RPC_SETTINGS = {("rpc", "max_body_bytes"): "3000000"}
# CometBFT throttles each peer connection to 5 MB/s each way by default. On loopback that throttle,
# not the machine, would set the pace of a large model's round (16 updates of 4 MB gossiped through
# the mempool, then carried in blocks), so a localnet lifts it to 50 MiB/s.
LOCAL_P2P_SETTINGS = {("p2p", "send_rate"): str(50 << 20), ("p2p", "recv_rate"): str(50 << 20)}


def fast_block_settings(timeout_commit: str = "500ms") -> dict[tuple[str, str], str]:
    """Local-network timeouts: quick blocks; propose timeout well above PrepareProposal's time."""
    return {
        ("consensus", "timeout_commit"): f'"{timeout_commit}"',
        ("consensus", "timeout_propose"): '"2s"',
        ("consensus", "timeout_prevote"): '"500ms"',
        ("consensus", "timeout_precommit"): '"500ms"',
    }


def consensus_pubkey(home: NodeHome) -> bytes:
    """The node's CometBFT ed25519 public key, from config/priv_validator_key.json."""
    doc = json.loads((home.root / "config" / "priv_validator_key.json").read_text())
    return base64.b64decode(doc["pub_key"]["value"])


def write_app_genesis(
    home: NodeHome,
    chain_id: str,
    balances: dict[str, int],
    bonds: list[GenesisBond] | None = None,
    staking_params: dict | None = None,
    slashing_params: dict | None = None,
    vote_extensions_height: int = 0,
) -> None:
    """Set chain id and app_state in genesis.json: funded addresses, and validators bonded from them.

    With bonds, the app returns the validator set from InitChain and genesis.json's own validator
    list is emptied (as in the Cosmos SDK), so stake alone decides voting power. Bonds with a BLS key
    become committee members; vote_extensions_height > 0 turns on the vote extensions that carry
    their beacon shares, from that height on.
    """
    doc = json.loads(home.genesis.read_text())
    doc["chain_id"] = chain_id
    state: dict = {
        "bank": {
            "balances": [
                {"address": addr, "coins": [{"denom": DEFAULT_DENOM, "amount": str(amount)}]}
                for addr, amount in sorted(balances.items())
            ]
        }
    }
    if bonds:
        state["staking"] = {
            "params": staking_params or {},
            "validators": [
                {
                    "operator_address": b.operator_address,
                    "consensus_pubkey": base64.b64encode(b.consensus_pubkey).decode(),
                    "moniker": b.moniker,
                    "self_bond": str(b.self_bond),
                }
                for b in bonds
            ],
        }
        doc["validators"] = []
    if slashing_params:
        state["slashing"] = {"params": slashing_params}
    members = _committee_members(bonds or [])
    if members:
        state["committee"] = {"members": members}
    # Written out in full so an operator sees (and may edit) the prediction-query limits before start.
    state["consensus"] = json_format.MessageToDict(
        consensus_default_genesis(), preserving_proto_field_name=True
    )
    if vote_extensions_height > 0:
        doc["consensus_params"]["abci"]["vote_extensions_enable_height"] = str(vote_extensions_height)
    doc["app_state"] = state
    _write_text(home.genesis, json.dumps(doc, indent=2) + "\n")


def _committee_members(bonds: list[GenesisBond]) -> list[dict]:
    """committee.v1.Member JSON (proto3 mapping) of each bond with a BLS key."""
    return [
        {
            "operator": b.operator_address,
            "cons_address": base64.b64encode(address_bytes_from_pubkey(b.consensus_pubkey)).decode(),
            "bls_pubkey": base64.b64encode(b.bls_pubkey).decode(),
            "since_height": "0",
        }
        for b in bonds
        if b.bls_pubkey
    ]
