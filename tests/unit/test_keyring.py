"""Unit tests for the test keyring: SLIP-0010 vectors, mnemonic derivation, storage and `synod keys`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.client.keyring import (
    DEFAULT_HD_PATH,
    Keyring,
    KeyringError,
    derive_private_key,
    derive_slip10_ed25519,
)
from app.core.crypto import PrivateKey, decode_address
from cli.main import cli

# SLIP-0010 "Test vector 1 for ed25519": (path, chain code, private key, public key without 00).
SLIP10_SEED_1 = "000102030405060708090a0b0c0d0e0f"
SLIP10_VECTOR_1 = [
    (
        "m",
        "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
        "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
        "a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed",
    ),
    (
        "m/0'",
        "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
        "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
        "8c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c",
    ),
    (
        "m/0'/1'",
        "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
        "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
        "1932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187",
    ),
    (
        "m/0'/1'/2'",
        "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c",
        "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
        "ae98736566d30ed0e9d2f4486a64bc95740d89c7db33f52121f8ea8f76ff0fc1",
    ),
    (
        "m/0'/1'/2'/2'",
        "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc",
        "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
        "8abae2d66361c879b900d204ad2cc4984fa2aa344dd7ddc46007329ac76c429c",
    ),
    (
        "m/0'/1'/2'/2'/1000000000'",
        "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
        "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
        "3c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a",
    ),
]

# SLIP-0010 "Test vector 2 for ed25519".
SLIP10_SEED_2 = (
    "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a2"
    "9f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542"
)
SLIP10_VECTOR_2 = [
    (
        "m",
        "ef70a74db9c3a5af931b5fe73ed8e1a53464133654fd55e7a66f8570b8e33c3b",
        "171cb88b1b3c1db25add599712e36245d75bc65a1a5c9e18d76f9f2b1eab4012",
        "8fe9693f8fa62a4305a140b9764c5ee01e455963744fe18204b4fb948249308a",
    ),
    (
        "m/0'",
        "0b78a3226f915c082bf118f83618a618ab6dec793752624cbeb622acb562862d",
        "1559eb2bbec5790b0c65d8693e4d0875b1747f4970ae8b650486ed7470845635",
        "86fab68dcb57aa196c77c5f264f215a112c22a912c10d123b0d03c3c28ef1037",
    ),
    (
        "m/0'/2147483647'",
        "138f0b2551bcafeca6ff2aa88ba8ed0ed8de070841f0c4ef0165df8181eaad7f",
        "ea4f5bfe8694d8bb74b7b59404632fd5968b774ed545e810de9c32a4fb4192f4",
        "5ba3b9ac6e90e83effcd25ac4e58a1365a9e35a3d3ae5eb07b9e4d90bcf7506d",
    ),
    (
        "m/0'/2147483647'/1'",
        "73bd9fff1cfbde33a1b846c27085f711c0fe2d66fd32e139d3ebc28e5a4a6b90",
        "3757c7577170179c7868353ada796c839135b3d30554bbb74a4b1e4a5a58505c",
        "2e66aa57069c86cc18249aecf5cb5a9cebbfd6fadeab056254763874a9352b45",
    ),
    (
        "m/0'/2147483647'/1'/2147483646'",
        "0902fe8a29f9140480a00ef244bd183e8a13288e4412d8389d140aac1794825a",
        "5837736c89570de861ebc173b1086da4f505d4adb387c6a1b1342d5e4ac9ec72",
        "e33c0f7d81d843c572275f287498e8d408654fdf0d1e065b84e2e6f157aab09b",
    ),
    (
        "m/0'/2147483647'/1'/2147483646'/2'",
        "5d70af781f3a37b829f0d060924d5e960bdc02e85423494afc0b1a41bbe196d4",
        "551d333177df541ad876a60ea71f00447931c0a9da16f227c11ea080d7391b8d",
        "47150c75db263559a70d5778bf36abbab30fb061ad69f69ece61a72b0cfa4fc0",
    ),
]

MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
# BIP-39 vector: MNEMONIC with passphrase "TREZOR" gives this 64-byte seed.
MNEMONIC_TREZOR_SEED = (
    "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd30971"
    "70af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8"
)
# Pinned so that a change to the derivation (path, seed, address rule) is caught.
MNEMONIC_ADDRESS = "synod1pywgxt6s0n9qmv2vqgd8vpvcw73j2t265x4ksw"
BAD_CHECKSUM_MNEMONIC = " ".join(["abandon"] * 24)


@pytest.mark.parametrize(
    ("seed", "path", "chain_code", "private", "public"),
    [(SLIP10_SEED_1, *row) for row in SLIP10_VECTOR_1] + [(SLIP10_SEED_2, *row) for row in SLIP10_VECTOR_2],
)
def test_slip10_ed25519_vectors(seed: str, path: str, chain_code: str, private: str, public: str) -> None:
    key, code = derive_slip10_ed25519(bytes.fromhex(seed), path)
    assert (key.hex(), code.hex()) == (private, chain_code)
    assert PrivateKey.from_seed(key).public_key.hex() == public


@pytest.mark.parametrize("path", ["44'/0'", "m/44", "m/44'/x'", "m/2147483648'"])
def test_slip10_rejects_bad_or_unhardened_paths(path: str) -> None:
    with pytest.raises(KeyringError, match="HD path"):
        derive_slip10_ed25519(bytes(16), path)


def test_mnemonic_derivation_uses_bip39_seed_and_cosmos_path() -> None:
    slip10_key, _ = derive_slip10_ed25519(bytes.fromhex(MNEMONIC_TREZOR_SEED), DEFAULT_HD_PATH)
    assert derive_private_key(MNEMONIC, "TREZOR").seed == slip10_key
    assert DEFAULT_HD_PATH == "m/44'/118'/0'/0'/0'"


def test_mnemonic_to_address_is_deterministic() -> None:
    assert derive_private_key(MNEMONIC).address == MNEMONIC_ADDRESS
    assert derive_private_key(f"  {MNEMONIC.upper()}\n").address == MNEMONIC_ADDRESS
    assert derive_private_key(MNEMONIC, "other").address != MNEMONIC_ADDRESS


def test_bad_mnemonic_rejected(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="invalid mnemonic"):
        Keyring(tmp_path).add("alice", BAD_CHECKSUM_MNEMONIC)
    assert Keyring(tmp_path).list() == []


def test_add_new_key_then_recover_same_address(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path)
    info, words = keyring.add("alice")
    assert len(words.split()) == 24
    keyring.delete("alice")
    recovered, _ = keyring.add("alice2", words)
    assert recovered.address == info.address
    assert recovered.public_key == info.public_key
    decode_address(recovered.address)


def test_get_by_name_or_address_and_sign(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path)
    info, _ = keyring.add("alice", MNEMONIC)
    assert keyring.get("alice") == keyring.get(MNEMONIC_ADDRESS) == info
    key = keyring.private_key(MNEMONIC_ADDRESS)
    assert key.address == MNEMONIC_ADDRESS
    assert key.public_key == info.public_key


def test_import_seed_and_list_sorted(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path)
    bob = keyring.import_seed("bob", bytes([1]) * 32)
    alice = keyring.import_seed("alice", bytes([2]) * 32)
    assert bob.address == PrivateKey.from_seed(bytes([1]) * 32).address
    assert keyring.list() == [alice, bob]
    record = json.loads((tmp_path / "keyring" / "bob.json").read_text())
    assert record["created_with"] == "raw"
    assert record["seed"] == (bytes([1]) * 32).hex()
    with pytest.raises(KeyringError, match="32 bytes"):
        keyring.import_seed("carol", bytes(31))


def test_duplicate_name_and_duplicate_key_rejected(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path)
    keyring.add("alice", MNEMONIC)
    with pytest.raises(KeyringError, match="already exists.*synod keys delete alice"):
        keyring.add("alice")
    with pytest.raises(KeyringError, match="already stored as 'alice'"):
        keyring.add("bob", MNEMONIC)


@pytest.mark.parametrize("name", ["", "Alice", "a/b", "a b", "x" * 65])
def test_invalid_names_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(KeyringError, match="invalid key name"):
        Keyring(tmp_path).import_seed(name, bytes(32))


def test_delete_and_missing_key_errors(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path)
    keyring.add("alice", MNEMONIC)
    keyring.delete("alice")
    assert keyring.list() == []
    for action in (keyring.get, keyring.private_key, keyring.delete):
        with pytest.raises(KeyringError, match="not found.*synod keys list --home"):
            action("alice")


def test_file_permissions(tmp_path: Path) -> None:
    Keyring(tmp_path).add("alice", MNEMONIC)
    directory = tmp_path / "keyring"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "alice.json").stat().st_mode) == 0o600


def test_damaged_or_tampered_file_reported(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path)
    keyring.add("alice", MNEMONIC)
    path = tmp_path / "keyring" / "alice.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | {"seed": "00" * 32}))
    with pytest.raises(KeyringError, match="inconsistent"):
        keyring.private_key("alice")
    path.write_text("{not json")
    with pytest.raises(KeyringError, match="damaged.*--recover"):
        keyring.list()


def _invoke(home: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run `synod keys ARGS --home HOME`; return (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, ["keys", *args, "--home", str(home)], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_cli_add_list_show_delete(tmp_path: Path) -> None:
    code, out, err = _invoke(tmp_path, "add", "alice")
    assert code == 0
    assert "name: alice" in out and "mnemonic" not in out
    assert "unencrypted" in err and "write this mnemonic" in err
    words = err.strip().splitlines()[-1]
    assert Keyring(tmp_path).get("alice").address == derive_private_key(words).address

    code, out, _ = _invoke(tmp_path, "list")
    assert code == 0 and "name: alice" in out
    address = Keyring(tmp_path).get("alice").address
    assert _invoke(tmp_path, "show", "alice", "--address")[:2] == (0, f"{address}\n")
    assert _invoke(tmp_path, "show", address, "-a")[:2] == (0, f"{address}\n")

    code, _, _ = _invoke(tmp_path, "delete", "alice", stdin="n\n")
    assert code == 1 and Keyring(tmp_path).list() != []
    code, out, _ = _invoke(tmp_path, "delete", "alice", "--yes")
    assert code == 0 and Keyring(tmp_path).list() == []
    assert "No keys found" in _invoke(tmp_path, "list")[1]


def test_cli_recover_from_stdin(tmp_path: Path) -> None:
    code, out, err = _invoke(tmp_path, "add", "bob", "--recover", stdin=f"{MNEMONIC}\n")
    assert code == 0
    assert MNEMONIC_ADDRESS in out
    assert MNEMONIC not in out + err


def test_cli_json_output(tmp_path: Path) -> None:
    code, out, _ = _invoke(tmp_path, "add", "alice", "--output", "json")
    assert code == 0
    added = json.loads(out)
    assert derive_private_key(added["mnemonic"]).address == added["address"]
    _invoke(tmp_path, "add", "bob", "--recover", "-o", "json", stdin=MNEMONIC)
    listed = json.loads(_invoke(tmp_path, "list", "-o", "json")[1])
    assert [key["name"] for key in listed] == ["alice", "bob"]
    shown = json.loads(_invoke(tmp_path, "show", "bob", "-o", "json")[1])
    assert shown == {"name": "bob", "address": MNEMONIC_ADDRESS, "pubkey": listed[1]["pubkey"]}


def test_cli_errors_say_what_to_do(tmp_path: Path) -> None:
    code, _, err = _invoke(tmp_path, "show", "nobody")
    assert code == 1 and "synod keys list --home" in err
    code, _, err = _invoke(tmp_path, "add", "bob", "--recover", stdin=BAD_CHECKSUM_MNEMONIC)
    assert code == 1 and "invalid mnemonic" in err
    code, _, err = _invoke(tmp_path, "add", "bob", "--recover", stdin="\n")
    assert code == 1 and "no mnemonic given" in err


def test_cli_home_defaults_to_synod_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNOD_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["keys", "add", "alice", "--recover"], input=MNEMONIC)
    assert result.exit_code == 0
    assert Keyring(tmp_path).get("alice").address == MNEMONIC_ADDRESS
