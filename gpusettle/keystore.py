"""An account store of encrypted Web3 Secret Storage (v3) keyfiles, one `<alias>.json` per account.

The files are the standard v3 JSON eth-account writes (address, crypto, id, version), so brownie,
geth and cast read them as they are. A private key only ever exists decrypted in memory: every write
goes through `Account.encrypt`, into a 0600 temp file that is renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import click
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.exceptions import ValidationError as EthValidationError

from .atomicfile import write_atomic
from .errors import AccountExistsError, KeystoreError, UnknownAccountError, WrongPasswordError
from .hashing import checksum_address

__all__ = [
    "FAST_KDF_ENV",
    "HOME_ENV",
    "PASSWORD_ENV",
    "Keystore",
    "default_keystore_dir",
    "hidden_prompt",
    "resolve_password",
]

log = logging.getLogger(__name__)

HOME_ENV = "GPUSETTLE_HOME"
PASSWORD_ENV = "GPUSETTLE_PASSWORD"
FAST_KDF_ENV = "GPUSETTLE_KDF_FAST"

# scrypt n = 2**18 is the Web3 Secret Storage default (~1 s per unlock); 2**14 (~30 ms) keeps test
# suites fast and must never protect a real key.
_STRONG_SCRYPT_N = 2**18
_FAST_SCRYPT_N = 2**14

_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_MAX_HD_INDEX = 2**31 - 1


def default_keystore_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$GPUSETTLE_HOME/keystores`, or `~/.gpusettle/keystores` when GPUSETTLE_HOME is unset."""
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV)
    base = Path(home).expanduser() if home else Path.home() / ".gpusettle"
    return base / "keystores"


def _kdf_settings() -> tuple[Literal["scrypt"], int]:
    fast = os.environ.get(FAST_KDF_ENV, "").strip().lower() in ("1", "true", "yes")
    return "scrypt", _FAST_SCRYPT_N if fast else _STRONG_SCRYPT_N


def _check_new_password(password: str) -> None:
    if not isinstance(password, str) or not password:
        raise KeystoreError("the new password is empty", "choose a non-empty password (a passphrase is best)")


class Keystore:
    """Encrypted accounts in one directory, addressed by alias."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_keystore_dir()

    # -- paths and reading -------------------------------------------------------------------------

    def path(self, alias: str) -> Path:
        """The keyfile path for `alias` (which may not exist yet)."""
        if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
            raise KeystoreError(
                f"{alias!r} is not a valid account alias",
                "use 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit",
            )
        return self.directory / f"{alias}.json"

    def exists(self, alias: str) -> bool:
        """Whether an account named `alias` exists."""
        return self.path(alias).is_file()

    def aliases(self) -> list[str]:
        """Every alias in the store, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p.stem for p in self.directory.glob("*.json") if p.is_file() and _ALIAS.fullmatch(p.stem)
        )

    def _read(self, alias: str) -> dict[str, Any]:
        path = self.path(alias)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UnknownAccountError(alias, self.aliases()) from None
        return _parse_keyfile(text, str(path))

    def list(self) -> list[tuple[str, str]]:
        """(alias, checksummed address) for every readable account, sorted by alias; unreadable files
        are skipped with a logged warning so one bad file does not hide the others."""
        accounts = []
        for alias in self.aliases():
            try:
                accounts.append((alias, self.address(alias)))
            except KeystoreError as exc:
                log.warning("skipping %s: %s", self.path(alias), exc)
        return accounts

    def address(self, alias: str) -> str:
        """The checksummed address of `alias`, read from the keyfile without decrypting it."""
        return _keyfile_address(self._read(alias), str(self.path(alias)))

    # -- creating and importing ------------------------------------------------------------------

    def new(self, alias: str, password: str) -> str:
        """Create a fresh random account; returns its address."""
        return self._store(alias, Account.create(), password)

    def import_private_key(self, alias: str, private_key: str | bytes, password: str) -> str:
        """Store an existing private key (32 bytes, or hex with or without 0x); returns its address."""
        try:
            account = Account.from_key(private_key)
        except (ValueError, TypeError):
            # Never echo the value: it is (nearly) a private key.
            raise KeystoreError(
                "the private key is not valid", "give 32 bytes as 64 hex digits, with or without 0x"
            ) from None
        return self._store(alias, account, password)

    def import_mnemonic(self, alias: str, mnemonic: str, password: str, index: int = 0) -> str:
        """Store the account at m/44'/60'/0'/0/`index` of a BIP-39 mnemonic; returns its address."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= _MAX_HD_INDEX:
            raise KeystoreError(f"account index {index!r} is out of range", f"use 0 to {_MAX_HD_INDEX}")
        Account.enable_unaudited_hdwallet_features()
        try:
            account = Account.from_mnemonic(
                " ".join(mnemonic.split()), account_path=f"m/44'/60'/0'/0/{index}"
            )
        except (ValueError, TypeError, EthValidationError) as exc:
            raise KeystoreError(
                f"the mnemonic is not valid ({_mnemonic_problem(exc)})",
                "check the words, their order and the word count (12, 15, 18, 21 or 24)",
            ) from None
        return self._store(alias, account, password)

    def import_keyfile(
        self, alias: str, path: str | os.PathLike[str], old_password: str, new_password: str | None = None
    ) -> str:
        """Store the account of another tool's v3 keyfile, re-encrypted under `new_password` (or the old
        password when None) with this store's KDF settings; returns its address."""
        source = Path(path).expanduser()
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeystoreError(f"cannot read keyfile {source}: {exc.strerror}", "check the path") from None
        keyfile = _parse_keyfile(text, str(source))
        try:
            account = Account.from_key(_decrypt(keyfile, old_password, alias=str(source)))
        except WrongPasswordError:
            raise WrongPasswordError(
                str(source),
                "that is not the password of the keyfile being imported: type it again, or check the file given "
                "with --keyfile-password-file",
            ) from None
        return self._store(alias, account, new_password if new_password is not None else old_password)

    def _store(self, alias: str, account: LocalAccount, password: str) -> str:
        path = self.path(alias)
        _check_new_password(password)
        if path.exists():
            raise AccountExistsError(alias)
        self._write(path, account, password, overwrite=False, alias=alias)
        return account.address

    def _write(
        self, path: Path, account: LocalAccount, password: str, *, overwrite: bool, alias: str
    ) -> None:
        kdf, n = _kdf_settings()
        keyfile = Account.encrypt(account.key, password, kdf=kdf, iterations=n)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            write_atomic(path, json.dumps(keyfile).encode("utf-8"), mode=0o600, overwrite=overwrite)
        except FileExistsError:
            raise AccountExistsError(alias) from None

    # -- using and changing --------------------------------------------------------------------------

    def unlock(self, alias: str, password: str) -> LocalAccount:
        """Decrypt `alias` into an account that can sign; WrongPasswordError on a wrong password."""
        keyfile = self._read(alias)
        account: LocalAccount = Account.from_key(_decrypt(keyfile, password, alias=alias))
        expected = _keyfile_address(keyfile, str(self.path(alias)))
        if account.address != expected:
            raise KeystoreError(
                f"keyfile {self.path(alias)} says {expected} but holds the key of {account.address}",
                "the file was edited or corrupted; restore it from a backup",
            )
        return account

    def change_password(self, alias: str, old_password: str, new_password: str) -> None:
        """Re-encrypt `alias` under a new password; the old file stays intact until the new one is complete."""
        _check_new_password(new_password)
        account = self.unlock(alias, old_password)
        self._write(self.path(alias), account, new_password, overwrite=True, alias=alias)

    # -- the client's encryption key -------------------------------------------------------------------

    def encryption_key_path(self, alias: str) -> Path:
        """Where `alias`'s X25519 encryption key lives: beside its account key, `<alias>.x25519`
        (not `.json`, so it is never taken for an account)."""
        return self.path(alias).with_suffix(".x25519")

    def new_encryption_key(self, alias: str, password: str) -> str:
        """Make `alias` an X25519 key pair for results sealed to it, encrypted like its account key
        (the v3 keyfile format, scrypt); returns the public key as 0x-hex. The account must exist."""
        from eth_keyfile.keyfile import create_keyfile_json
        from nacl.public import PrivateKey

        self._read(alias)  # UnknownAccountError when there is no such account
        _check_new_password(password)
        path = self.encryption_key_path(alias)
        if path.exists():
            raise KeystoreError(
                f"{alias} already has an encryption key ({path})",
                "results sealed to it need it: keep it; `wallet encryption-key ALIAS` shows the public key",
            )
        secret = PrivateKey.generate()
        kdf, n = _kdf_settings()
        keyfile = create_keyfile_json(bytes(secret), password, kdf=kdf, iterations=n)
        keyfile["x25519_public_key"] = "0x" + bytes(secret.public_key).hex()
        keyfile["purpose"] = "gpusettle result encryption (X25519 sealed boxes)"
        write_atomic(path, json.dumps(keyfile).encode("utf-8"), mode=0o600, overwrite=False)
        return str(keyfile["x25519_public_key"])

    def encryption_public_key(self, alias: str) -> str:
        """`alias`'s X25519 public key (0x-hex), read without decrypting anything."""
        return str(self._encryption_keyfile(alias)["x25519_public_key"])

    def unlock_encryption_key(self, alias: str, password: str) -> bytes:
        """`alias`'s X25519 secret key; WrongPasswordError on a wrong password."""
        from nacl.public import PrivateKey

        keyfile = self._encryption_keyfile(alias)
        secret = _decrypt(keyfile, password, alias=f"{alias}'s encryption key")
        if "0x" + bytes(PrivateKey(secret).public_key).hex() != keyfile["x25519_public_key"]:
            raise KeystoreError(
                f"{self.encryption_key_path(alias)} does not hold the key it names",
                "the file was edited or corrupted; restore it from a backup",
            )
        return secret

    def _encryption_keyfile(self, alias: str) -> dict[str, Any]:
        path = self.encryption_key_path(alias)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeystoreError(
                f"{alias} has no encryption key",
                f"make one with `gpusettle wallet encryption-key {alias} --new`",
            ) from None
        data = _parse_keyfile(text, str(path))
        if not isinstance(data.get("x25519_public_key"), str):
            raise KeystoreError(f"{path} names no public key", "restore it from a backup")
        return data

    def delete(self, alias: str) -> None:
        """Remove `alias`'s keyfile. Irreversible: callers should confirm with the user first."""
        path = self.path(alias)
        try:
            path.unlink()
        except FileNotFoundError:
            raise UnknownAccountError(alias, self.aliases()) from None


def _parse_keyfile(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeystoreError(
            f"keyfile {where} is not valid JSON ({exc.msg})", "restore it from a backup"
        ) from None
    if not isinstance(data, dict) or data.get("version") != 3 or not isinstance(data.get("crypto"), dict):
        raise KeystoreError(
            f"{where} is not a Web3 Secret Storage v3 keyfile",
            "give a keyfile written by geth, brownie, cast or eth-account (version 3)",
        )
    return data


def _keyfile_address(keyfile: Mapping[str, Any], where: str) -> str:
    raw = keyfile.get("address")
    if not isinstance(raw, str):
        raise KeystoreError(f"keyfile {where} has no address field", "re-import it from the original keyfile")
    try:
        address_bytes = bytes.fromhex(raw.removeprefix("0x"))
    except ValueError:
        address_bytes = b""
    if len(address_bytes) != 20:
        raise KeystoreError(f"keyfile {where} has a malformed address {raw!r}", "restore it from a backup")
    return checksum_address(address_bytes)


def _decrypt(keyfile: Mapping[str, Any], password: str, *, alias: str) -> bytes:
    try:
        return bytes(Account.decrypt(dict(keyfile), password))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPasswordError(alias) from None
        raise KeystoreError(f"cannot decrypt {alias}: {exc}", "the keyfile may be corrupted") from None
    except (KeyError, TypeError, NotImplementedError) as exc:
        raise KeystoreError(
            f"cannot decrypt {alias}: unsupported or incomplete keyfile ({exc!r})",
            "give a v3 keyfile using scrypt or pbkdf2",
        ) from None


def _mnemonic_problem(exc: Exception) -> str:
    # eth-account's messages quote the words, which are the secret: describe the problem instead.
    if "Language not detected" in str(exc):
        return "some words are not in a BIP-39 word list"
    return "wrong word count or checksum"


def hidden_prompt(label: str, confirm: bool = False) -> str:
    """Ask for a secret without echoing it. Without a terminal, Python's getpass warns that it cannot hide the
    input before reading it anyway: that warning (a file path and a line of code) is not for the user."""
    import getpass
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getpass.GetPassWarning)
        value: str = click.prompt(label, hide_input=True, confirmation_prompt=confirm, err=True)
    return value


def _prompt_password(label: str, confirm: bool) -> str:
    return hidden_prompt(label, confirm)


def resolve_password(
    explicit: str | None = None,
    password_file: str | os.PathLike[str] | None = None,
    *,
    label: str = "Password",
    confirm: bool = False,
    environ: Mapping[str, str] | None = None,
    interactive: bool | None = None,
) -> str:
    """Find the password: `explicit` value, else the `--password-file` file (its trailing newline
    stripped), else $GPUSETTLE_PASSWORD, else a hidden prompt (confirmed twice when `confirm`).

    `interactive` defaults to whether stdin is a terminal; without one and without a password from
    the other sources this raises KeystoreError instead of blocking on a prompt nobody can answer.
    """
    if explicit is not None:
        return explicit
    if password_file is not None:
        file = Path(password_file).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeystoreError(
                f"cannot read the password file {file}: {exc.strerror}", "check the --password-file path"
            ) from None
        return text.rstrip("\r\n")
    env = os.environ if environ is None else environ
    from_env = env.get(PASSWORD_ENV)
    if from_env is not None:
        return from_env
    if interactive is None:
        interactive = os.isatty(0)
    if not interactive:
        raise KeystoreError(
            "a password is needed but there is no terminal to ask on",
            f"pass --password-file PATH or set {PASSWORD_ENV}",
        )
    return _prompt_password(label, confirm)
