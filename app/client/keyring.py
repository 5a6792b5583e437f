"""A file keyring like the Cosmos SDK's `--keyring-backend test`: UNENCRYPTED, for local/dev use only.

Keys live in `<home>/keyring/<name>.json` (file mode 0600, directory 0700), each holding the key's
name, address, hex public key, hex 32-byte ed25519 seed and how it was created ("mnemonic" or
"raw"). Anyone who can read these files can spend the funds: never use this keyring for real value.

Derivation: BIP-39 mnemonic (+ optional passphrase) -> 64-byte BIP-39 seed -> SLIP-0010 ed25519 on
the all-hardened path m/44'/118'/0'/0'/0' -> 32-byte ed25519 seed. The mnemonic itself is not stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mnemonic import Mnemonic

from app.core.crypto import PrivateKey
from app.core.fsutil import create_exclusively

__all__ = [
    "DEFAULT_HD_PATH",
    "KeyInfo",
    "Keyring",
    "KeyringError",
    "derive_private_key",
    "derive_slip10_ed25519",
]

DEFAULT_HD_PATH = "m/44'/118'/0'/0'/0'"
_HARDENED = 0x80000000
_MNEMONIC_STRENGTH_BITS = 256  # 24 words
_NAME_RE = re.compile(r"[a-z0-9_.-]{1,64}")
_HD_STEP_RE = re.compile(r"[0-9]+['hH]")
_RECORD_FIELDS = frozenset({"name", "address", "public_key", "seed", "created_with"})
_KEY_FILE_MODE = 0o600
_DIR_MODE = 0o700


class KeyringError(Exception):
    """A keyring operation failed; the message says what went wrong and what to do."""


@dataclass(frozen=True)
class KeyInfo:
    """The public facts about a stored key."""

    name: str
    address: str
    public_key: bytes


def _parse_hd_path(path: str) -> list[int]:
    """Parse `m/44'/118'/...` into hardened child indices; ed25519 allows hardened steps only."""
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise KeyringError(f"HD path {path!r} must start with 'm', e.g. {DEFAULT_HD_PATH!r}")
    indices = []
    for part in parts[1:]:
        if not _HD_STEP_RE.fullmatch(part):
            raise KeyringError(
                f"HD path step {part!r} in {path!r} is not hardened: SLIP-0010 ed25519 supports "
                f"only hardened steps like 44' (use e.g. {DEFAULT_HD_PATH!r})"
            )
        index = int(part[:-1])
        if index >= _HARDENED:
            raise KeyringError(f"HD path step {part!r} in {path!r} must be below 2^31")
        indices.append(index + _HARDENED)
    return indices


def derive_slip10_ed25519(seed: bytes, path: str) -> tuple[bytes, bytes]:
    """SLIP-0010 ed25519 derivation of (private key, chain code) from a 16-64 byte seed."""
    if not 16 <= len(seed) <= 64:
        raise KeyringError(f"SLIP-0010 seed must be 16-64 bytes, got {len(seed)}")
    digest = hmac.new(b"ed25519 seed", seed, hashlib.sha512).digest()
    key, chain_code = digest[:32], digest[32:]
    for index in _parse_hd_path(path):
        data = b"\x00" + key + index.to_bytes(4, "big")
        digest = hmac.new(chain_code, data, hashlib.sha512).digest()
        key, chain_code = digest[:32], digest[32:]
    return key, chain_code


def _normalize_mnemonic(mnemonic: str) -> str:
    """Lower-case the words and collapse whitespace, so pasted phrases restore the same key."""
    return " ".join(mnemonic.lower().split())


def derive_private_key(mnemonic: str, passphrase: str = "", path: str = DEFAULT_HD_PATH) -> PrivateKey:
    """The ed25519 key for a BIP-39 mnemonic, optional BIP-39 passphrase and SLIP-0010 path."""
    words = _normalize_mnemonic(mnemonic)
    if not Mnemonic("english").check(words):
        raise KeyringError(
            "invalid mnemonic: expected 12-24 English BIP-39 words with a valid checksum; "
            "check the words and their order"
        )
    key, _ = derive_slip10_ed25519(Mnemonic.to_seed(words, passphrase), path)
    return PrivateKey.from_seed(key)


def _key_info(record: dict[str, str]) -> KeyInfo:
    """The public part of a key record."""
    return KeyInfo(record["name"], record["address"], bytes.fromhex(record["public_key"]))


def _damaged(path: Path, reason: str) -> KeyringError:
    """The error for a key file that cannot be used."""
    return KeyringError(
        f"key file {path} is unreadable or damaged ({reason}): remove it, then restore the key "
        f"from its mnemonic with `synod keys add NAME --recover`"
    )


class Keyring:
    """Unencrypted keys in `<home>/keyring/` (test backend: for local development only)."""

    def __init__(self, home: str | Path) -> None:
        """Open the keyring under `home`; the directory is created on the first write."""
        self.home = Path(home).expanduser()
        self.directory = self.home / "keyring"

    def add(self, name: str, mnemonic: str | None = None, passphrase: str = "") -> tuple[KeyInfo, str]:
        """Store a key from `mnemonic` (a new 24-word one if None); return it and the mnemonic."""
        self._check_new_name(name)
        words = (
            Mnemonic("english").generate(strength=_MNEMONIC_STRENGTH_BITS)
            if mnemonic is None
            else _normalize_mnemonic(mnemonic)
        )
        key = derive_private_key(words, passphrase)
        return self._store(name, key, "mnemonic"), words

    def import_seed(self, name: str, seed: bytes) -> KeyInfo:
        """Store a key from a raw 32-byte ed25519 seed (genesis and test keys)."""
        self._check_new_name(name)
        if len(seed) != 32:
            raise KeyringError(f"ed25519 seed must be 32 bytes, got {len(seed)}")
        return self._store(name, PrivateKey.from_seed(seed), "raw")

    def get(self, name_or_address: str) -> KeyInfo:
        """Look a key up by name, or else by its `synod1...` address."""
        return _key_info(self._load(name_or_address))

    def private_key(self, name_or_address: str) -> PrivateKey:
        """The signing key of a stored key, checked against its recorded address."""
        record = self._load(name_or_address)
        key = PrivateKey.from_seed(bytes.fromhex(record["seed"]))
        if key.address != record["address"]:
            raise KeyringError(
                f"key file {self._path(record['name'])} is inconsistent (its seed does not give "
                f"its address): delete it with `synod keys delete {record['name']}` and re-import"
            )
        return key

    def list(self) -> list[KeyInfo]:
        """All stored keys, sorted by name."""
        if not self.directory.is_dir():
            return []
        infos = [_key_info(self._read(path)) for path in self.directory.glob("*.json")]
        return sorted(infos, key=lambda info: info.name)

    def delete(self, name: str) -> None:
        """Remove a key by name; it cannot be recovered without its mnemonic or seed."""
        path = self._path(name)
        if not path.is_file():
            raise self._not_found(name)
        path.unlink()

    def _not_found(self, name_or_address: str) -> KeyringError:
        """The error for a key that is not in this keyring."""
        return KeyringError(
            f"key {name_or_address!r} not found in {self.directory}: "
            f"list keys with `synod keys list --home {self.home}`"
        )

    def _path(self, name: str) -> Path:
        """The file of a key name, which must match [a-z0-9_.-]{1,64}."""
        if not _NAME_RE.fullmatch(name):
            raise KeyringError(f"invalid key name {name!r}: use 1-64 characters from a-z, 0-9, '_', '.', '-'")
        return self.directory / f"{name}.json"

    def _check_new_name(self, name: str) -> None:
        """Refuse a name that is invalid or already taken."""
        if self._path(name).exists():
            raise KeyringError(
                f"key {name!r} already exists in {self.directory}: choose another name or "
                f"remove it with `synod keys delete {name} --home {self.home}`"
            )

    def _load(self, name_or_address: str) -> dict[str, str]:
        """Read a key record by name, falling back to a scan by address."""
        if _NAME_RE.fullmatch(name_or_address) and self._path(name_or_address).is_file():
            return self._read(self._path(name_or_address))
        if self.directory.is_dir():
            for candidate in sorted(self.directory.glob("*.json")):
                record = self._read(candidate)
                if record["address"] == name_or_address:
                    return record
        raise self._not_found(name_or_address)

    def _read(self, path: Path) -> dict[str, str]:
        """Parse one key file, rejecting damaged ones with a way out."""
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise _damaged(path, str(err)) from err
        if not isinstance(record, dict) or not record.keys() >= _RECORD_FIELDS:
            raise _damaged(path, f"expected the fields {sorted(_RECORD_FIELDS)}")
        try:
            sizes = {len(bytes.fromhex(record[field])) for field in ("public_key", "seed")}
        except (TypeError, ValueError) as err:
            raise _damaged(path, f"bad hex: {err}") from err
        if sizes != {32}:
            raise _damaged(path, "public_key and seed must each be 32 bytes of hex")
        return record

    def _store(self, name: str, key: PrivateKey, created_with: str) -> KeyInfo:
        """Write a new key file (0600, never overwriting) and return its info."""
        for existing in self.list():
            if existing.address == key.address:
                raise KeyringError(
                    f"this key is already stored as {existing.name!r} ({key.address}): "
                    f"use that name, or delete it first with `synod keys delete {existing.name}`"
                )
        record = {
            "name": name,
            "address": key.address,
            "public_key": key.public_key.hex(),
            "seed": key.seed.hex(),
            "created_with": created_with,
        }
        self.directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.directory, _DIR_MODE)  # mkdir's mode is masked by the umask
        path = self._path(name)
        try:
            create_exclusively(path, (json.dumps(record, indent=2) + "\n").encode(), _KEY_FILE_MODE)
        except FileExistsError as err:
            raise KeyringError(f"key {name!r} was just created elsewhere: choose another name") from err
        return KeyInfo(name, key.address, key.public_key)
