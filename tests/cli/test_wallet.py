"""`gpusettle wallet`: keyfiles interoperate with eth-account, secrets never leak, errors are messages."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from eth_account import Account

from tests.cli.runner import Cli

# Throwaway keys made for these tests only.
KEY = "0x" + "5a" * 32
MNEMONIC = "test test test test test test test test test test test junk"
MNEMONIC_ADDR1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # index 1 of the public test mnemonic


def test_new_keyfile_is_decrypted_by_eth_account(gs: Cli) -> None:
    out = gs("wallet", "new", "w-new", input="pw-new\npw-new\n")
    address = out.stdout.split()[2]
    keyfile = gs.home / "keystores" / "w-new.json"
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    data = json.loads(keyfile.read_text())
    assert data["version"] == 3
    key = Account.decrypt(data, "pw-new")
    assert Account.from_key(key).address == address
    assert gs("wallet", "address", "w-new").stdout.strip() == address
    # The hidden prompt asked twice and nothing echoed the password.
    assert "pw-new" not in out.output


def test_import_private_key_from_prompt_never_echoes_it(gs: Cli) -> None:
    out = gs("wallet", "import", "w-key", "--private-key", input=f"{KEY}\npw\npw\n")
    assert Account.from_key(KEY).address in out.stdout
    assert KEY[2:] not in out.output and KEY[2:] not in (gs.home / "keystores" / "w-key.json").read_text()


def test_import_mnemonic_with_index(gs: Cli) -> None:
    secret = gs.home / "mnemonic.txt"
    secret.write_text(MNEMONIC + "\n")
    pw = gs.password_file("m", "pw-m")
    out = gs(
        "wallet",
        "import",
        "w-mn",
        "--mnemonic",
        "--index",
        "1",
        "--secret-file",
        str(secret),
        "--password-file",
        pw,
    )
    assert MNEMONIC_ADDR1 in out.stdout
    assert "junk" not in out.output


def test_import_keyfile_written_by_eth_account(gs: Cli) -> None:
    acct = Account.create()
    keyfile = gs.home / "foreign.json"
    keyfile.write_text(json.dumps(Account.encrypt(acct.key, "foreign-pw", kdf="scrypt", iterations=2**14)))
    kpw = gs.password_file("foreign", "foreign-pw")
    out = gs("wallet", "import", "w-foreign", "--keyfile", str(keyfile), "--keyfile-password-file", kpw)
    assert acct.address in out.stdout
    # Same password kept: eth-account decrypts the stored copy with it.
    stored = json.loads((gs.home / "keystores" / "w-foreign.json").read_text())
    assert Account.from_key(Account.decrypt(stored, "foreign-pw")).address == acct.address


def test_list_json(gs: Cli) -> None:
    gs("wallet", "new", "w-list", env={"GPUSETTLE_PASSWORD": "x"})
    data = gs.json("wallet", "list")
    aliases = {a["alias"] for a in data["accounts"]}
    assert "w-list" in aliases


def test_change_password(gs: Cli) -> None:
    gs("wallet", "new", "w-cp", env={"GPUSETTLE_PASSWORD": "old"})
    old = gs.password_file("old", "old")
    new = gs.password_file("new", "new")
    gs("wallet", "change-password", "w-cp", "--password-file", old, "--new-password-file", new)
    data = json.loads((gs.home / "keystores" / "w-cp.json").read_text())
    Account.decrypt(data, "new")
    # The old password no longer works: wrong-password message, exit 1, no traceback.
    bad = gs(
        "wallet", "change-password", "w-cp", "--password-file", old, "--new-password-file", new, ok=False
    )
    assert bad.exit_code == 1
    assert "error: wrong password for account 'w-cp'" in bad.stderr


def test_delete_asks_and_removes(gs: Cli, tty: None) -> None:
    gs("wallet", "new", "w-del", env={"GPUSETTLE_PASSWORD": "x"})
    refused = gs("wallet", "delete", "w-del", input="n\n", ok=False)
    assert (gs.home / "keystores" / "w-del.json").exists(), refused.output
    gs("wallet", "delete", "w-del", "--yes")
    assert not (gs.home / "keystores" / "w-del.json").exists()


def test_unknown_account(gs: Cli) -> None:
    res = gs("wallet", "address", "nobody", ok=False)
    assert "error: no account named 'nobody'" in res.stderr
    # `accounts` is gone (it duplicated `wallet`); the hint names the command that exists.
    assert "gpusettle wallet new" in res.stderr and "gpusettle accounts" not in res.stderr
    # The hint's command exists.
    gs("wallet", "list")


def test_missing_keystore_file_on_import(gs: Cli) -> None:
    res = gs(
        "wallet",
        "import",
        "w-missing",
        "--keyfile",
        str(gs.home / "nope.json"),
        "--keyfile-password-file",
        gs.password_file("z", "z"),
        ok=False,
    )
    assert "error: --keyfile" in res.stderr and "nope.json: no such file" in res.stderr
    # ... before any password is asked for.
    asked = gs("wallet", "import", "w-missing", "--keyfile", str(gs.home / "nope.json"), input="", ok=False)
    assert "no such file" in asked.stderr and "Password of" not in asked.stdout + asked.stderr


def test_importing_a_keyfile_names_the_option_for_its_own_password(gs: Cli) -> None:
    """The store's password (--password-file, GPUSETTLE_PASSWORD) is not the imported file's: the hints used to send
    the user to those."""
    acct = Account.create()
    keyfile = gs.home / "other-tool.json"
    keyfile.write_text(json.dumps(Account.encrypt(acct.key, "its-own-pw", kdf="scrypt", iterations=2**14)))
    none = gs("wallet", "import", "w-other", "--keyfile", str(keyfile), input="", ok=False)
    assert "--keyfile-password-file" in none.stderr and "hint:" in none.stderr, none.stderr
    wrong = gs(
        "wallet", "import", "w-other", "--keyfile", str(keyfile),
        "--keyfile-password-file", gs.password_file("wrong", "not-it"), ok=False,
    )  # fmt: skip
    assert "wrong password" in wrong.stderr and "--keyfile-password-file" in wrong.stderr, wrong.stderr
    assert not (gs.home / "keystores" / "w-other.json").exists()


def test_bad_private_key_is_not_echoed(gs: Cli) -> None:
    res = gs("wallet", "import", "w-bad", "--private-key", input="0x1234deadbeef\npw\npw\n", ok=False)
    assert "the private key is not valid" in res.stderr
    assert "1234deadbeef" not in res.output


def test_existing_alias_is_never_overwritten(gs: Cli) -> None:
    gs("wallet", "new", "w-dup", env={"GPUSETTLE_PASSWORD": "x"})
    res = gs("wallet", "new", "w-dup", env={"GPUSETTLE_PASSWORD": "x"}, ok=False)
    assert "already exists" in res.stderr


def test_no_password_anywhere_is_a_message(gs: Cli) -> None:
    res = gs("wallet", "new", "w-nopw", input="", ok=False)
    assert "error:" in res.stderr and "password" in res.stderr
    assert not (Path(gs.home) / "keystores" / "w-nopw.json").exists()


def test_no_plaintext_key_on_disk(gs: Cli) -> None:
    gs("wallet", "import", "w-scan", "--private-key", input=f"{KEY[:-2]}77\npw\npw\n")
    needle = (KEY[2:-2] + "77").encode()
    for root, _, files in os.walk(gs.home):
        for f in files:
            assert needle not in (Path(root) / f).read_bytes(), f
