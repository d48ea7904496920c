"""The account store: standard v3 keyfiles in, standard v3 keyfiles out, never a plain key on disk."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from eth_account import Account

from gpusettle import keystore as keystore_module
from gpusettle.errors import AccountExistsError, KeystoreError, UnknownAccountError, WrongPasswordError
from gpusettle.keystore import Keystore, default_keystore_dir, resolve_password

# Hardhat/anvil's well-known first dev account: its mnemonic, key and address are public test data.
MNEMONIC = "test test test test test test test test test test test junk"
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV_ADDRESS_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture
def store(tmp_path: Path, fast_kdf: None) -> Keystore:
    return Keystore(tmp_path / "keystores")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_account_is_a_standard_v3_keyfile(store: Keystore) -> None:
    address = store.new("worker", "s3cret")
    path = store.path("worker")
    data = json.loads(path.read_text())
    assert set(data) == {"address", "crypto", "id", "version"}
    assert data["version"] == 3
    # Decrypted by eth-account directly, without gpusettle.
    assert Account.from_key(Account.decrypt(data, "s3cret")).address == address
    assert store.address("worker") == address
    assert store.list() == [("worker", address)]


def test_files_are_private_and_no_temp_files_remain(store: Keystore) -> None:
    store.new("a", "pw")
    store.change_password("a", "pw", "pw2")
    assert mode_of(store.path("a")) == 0o600
    assert mode_of(store.directory) == 0o700
    assert sorted(p.name for p in store.directory.iterdir()) == ["a.json"]


def test_private_key_never_written_in_clear(store: Keystore) -> None:
    store.import_private_key("dev", DEV_KEY, "pw")
    raw = store.path("dev").read_bytes()
    assert DEV_KEY[2:].encode() not in raw
    assert bytes.fromhex(DEV_KEY[2:]) not in raw


def test_import_private_key_and_unlock(store: Keystore) -> None:
    assert store.import_private_key("dev", DEV_KEY, "pw") == DEV_ADDRESS
    account = store.unlock("dev", "pw")
    assert account.address == DEV_ADDRESS
    assert account.key.hex().removeprefix("0x") == DEV_KEY[2:]


def test_import_private_key_rejects_garbage_without_echoing_it(store: Keystore) -> None:
    with pytest.raises(KeystoreError, match="not valid") as info:
        store.import_private_key("x", "0x1234abcd", "pw")
    assert "1234abcd" not in str(info.value)
    assert not store.exists("x")


def test_import_mnemonic(store: Keystore) -> None:
    assert store.import_mnemonic("m0", MNEMONIC, "pw") == DEV_ADDRESS
    assert (
        store.import_mnemonic("m1", "  " + MNEMONIC.replace(" ", "  ") + "\n", "pw", index=1) == DEV_ADDRESS_1
    )
    with pytest.raises(KeystoreError, match="checksum") as info:
        store.import_mnemonic("bad", "test " * 11 + "test", "pw")
    assert "test" not in str(info.value)  # the words are the secret
    with pytest.raises(KeystoreError, match="word list") as info:
        store.import_mnemonic("bad", "correct horse battery zzzzq", "pw")
    assert "horse" not in str(info.value)
    with pytest.raises(KeystoreError, match="out of range"):
        store.import_mnemonic("bad", MNEMONIC, "pw", index=-1)


def test_import_keyfile_written_by_eth_account(store: Keystore, tmp_path: Path) -> None:
    foreign = tmp_path / "UTC--foreign.json"
    # pbkdf2 with few rounds: a KDF gpusettle itself does not write, to prove it reads any v3 file.
    foreign.write_text(
        json.dumps(Account.encrypt(bytes.fromhex(DEV_KEY[2:]), "old", kdf="pbkdf2", iterations=1000))
    )
    with pytest.raises(WrongPasswordError):
        store.import_keyfile("imported", foreign, "not-it")
    assert not store.exists("imported")
    assert store.import_keyfile("imported", foreign, "old", new_password="new") == DEV_ADDRESS
    assert store.unlock("imported", "new").address == DEV_ADDRESS
    with pytest.raises(WrongPasswordError):
        store.unlock("imported", "old")
    # Without a new password the old one keeps working.
    assert store.import_keyfile("same", foreign, "old") == DEV_ADDRESS
    assert store.unlock("same", "old").address == DEV_ADDRESS


def test_import_keyfile_rejects_non_keyfiles(store: Keystore, tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    with pytest.raises(KeystoreError, match="not a Web3 Secret Storage v3 keyfile"):
        store.import_keyfile("x", junk, "pw")
    with pytest.raises(KeystoreError, match="cannot read keyfile"):
        store.import_keyfile("x", tmp_path / "missing.json", "pw")


def test_wrong_password(store: Keystore) -> None:
    store.new("w", "right")
    with pytest.raises(WrongPasswordError, match="wrong password for account 'w'"):
        store.unlock("w", "wrong")


def test_change_password(store: Keystore) -> None:
    address = store.new("c", "one")
    before = store.path("c").read_text()
    with pytest.raises(WrongPasswordError):
        store.change_password("c", "wrong", "two")
    assert store.path("c").read_text() == before  # a failed change leaves the file alone
    store.change_password("c", "one", "two")
    assert store.unlock("c", "two").address == address
    with pytest.raises(WrongPasswordError):
        store.unlock("c", "one")
    with pytest.raises(KeystoreError, match="empty"):
        store.change_password("c", "two", "")


def test_aliases_never_overwritten(store: Keystore) -> None:
    first = store.new("dup", "pw")
    with pytest.raises(AccountExistsError, match="already exists"):
        store.import_private_key("dup", DEV_KEY, "pw")
    assert store.unlock("dup", "pw").address == first


def test_delete(store: Keystore) -> None:
    store.new("gone", "pw")
    keep = store.new("kept", "pw")
    store.delete("gone")
    assert not store.path("gone").exists()
    assert store.list() == [("kept", keep)]
    with pytest.raises(UnknownAccountError, match="accounts: kept"):
        store.delete("gone")
    with pytest.raises(UnknownAccountError):
        store.unlock("gone", "pw")


@pytest.mark.parametrize("alias", ["", "../evil", "a/b", ".hidden", "x" * 65, "sp ace"])
def test_bad_aliases_rejected(store: Keystore, alias: str) -> None:
    with pytest.raises(KeystoreError, match="not a valid account alias"):
        store.new(alias, "pw")
    assert not any(store.directory.parent.rglob("*.json"))


def test_list_skips_unreadable_files(store: Keystore, caplog: pytest.LogCaptureFixture) -> None:
    address = store.new("ok", "pw")
    (store.directory / "broken.json").write_text("{not json")
    assert store.list() == [("ok", address)]
    assert "broken.json" in caplog.text


def test_tampered_address_detected(store: Keystore) -> None:
    store.new("t", "pw")
    path = store.path("t")
    data = json.loads(path.read_text())
    data["address"] = DEV_ADDRESS[2:].lower()
    path.write_text(json.dumps(data))
    with pytest.raises(KeystoreError, match="holds the key of"):
        store.unlock("t", "pw")


def test_default_directory_follows_gpusettle_home(tmp_path: Path) -> None:
    assert default_keystore_dir({"GPUSETTLE_HOME": str(tmp_path)}) == tmp_path / "keystores"
    assert default_keystore_dir({}) == Path.home() / ".gpusettle" / "keystores"


def test_default_store_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fast_kdf: None) -> None:
    monkeypatch.setenv("GPUSETTLE_HOME", str(tmp_path))
    Keystore().new("env", "pw")
    assert (tmp_path / "keystores" / "env.json").is_file()


def test_strong_kdf_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPUSETTLE_KDF_FAST", raising=False)
    assert keystore_module._kdf_settings() == ("scrypt", 2**18)
    monkeypatch.setenv("GPUSETTLE_KDF_FAST", "1")
    assert keystore_module._kdf_settings() == ("scrypt", 2**14)


def test_fast_kdf_file_parameters(store: Keystore) -> None:
    store.new("k", "pw")
    params = json.loads(store.path("k").read_text())["crypto"]["kdfparams"]
    assert params["n"] == 2**14


def test_password_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    password_file = tmp_path / "pw.txt"
    password_file.write_text("from-file\n")
    env = {"GPUSETTLE_PASSWORD": "from-env"}
    prompts: list[tuple[str, bool]] = []

    def fake_prompt(label: str, confirm: bool) -> str:
        prompts.append((label, confirm))
        return "from-prompt"

    monkeypatch.setattr(keystore_module, "_prompt_password", fake_prompt)
    assert resolve_password("explicit", password_file, environ=env) == "explicit"
    assert resolve_password(None, password_file, environ=env) == "from-file"
    assert resolve_password(None, None, environ=env) == "from-env"
    assert resolve_password(None, None, environ={}, interactive=True, confirm=True) == ("from-prompt")
    assert prompts == [("Password", True)]
    with pytest.raises(KeystoreError, match="--password-file"):
        resolve_password(None, None, environ={}, interactive=False)
    with pytest.raises(KeystoreError, match="cannot read the password file"):
        resolve_password(None, tmp_path / "missing", environ=env)
    # An empty string is an explicit choice, not a missing value.
    assert resolve_password("", password_file, environ=env) == ""
