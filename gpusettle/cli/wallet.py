"""`gpusettle wallet`: encrypted v3 keyfiles (readable by brownie, geth and cast)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import ConfigError, KeystoreError
from ..keystore import PASSWORD_ENV, hidden_prompt
from .context import ask_password, get_ctx, shared_options
from .jobspec import encryption_key

__all__ = ["wallet"]


@click.group()
def wallet() -> None:
    """Create, import and manage encrypted accounts ($GPUSETTLE_HOME/keystores)."""


def _new_password(label: str = "New password") -> str:
    c = get_ctx()
    _ = c.settings  # --password-file may come from GPUSETTLE_PASSWORD_FILE or the config file
    return ask_password(c.password_file, label=label, confirm=True)


def _read_secret(path: str | None, label: str) -> str:
    """A secret from a file (its trailing newline dropped) or a hidden prompt; never from argv."""
    if path is not None:
        try:
            return Path(path).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KeystoreError(f"cannot read {path}: {exc.strerror}", "check the path") from None
    try:
        value = hidden_prompt(label)
    except click.Abort:
        raise KeystoreError(
            f"no {label.lower()} was given", "type it at the prompt or pass --secret-file PATH"
        ) from None
    return value.strip()


@wallet.command("new")
@click.argument("alias")
@shared_options
def wallet_new(alias: str) -> None:
    """Create a fresh random account called ALIAS."""
    c = get_ctx()
    c.keystore.path(alias)  # validate the alias before asking for a password
    if c.keystore.exists(alias):
        from ..errors import AccountExistsError

        raise AccountExistsError(alias)
    address = c.keystore.new(alias, _new_password())
    c.emit(
        {"alias": alias, "address": address, "keyfile": str(c.keystore.path(alias))},
        f"created {alias}: {address}\nkeyfile {c.keystore.path(alias)} (keep a backup and remember the password)",
    )


@wallet.command("import")
@click.argument("alias")
@click.option(
    "--private-key", "source", flag_value="key", help="Import a private key (asked hidden, or --secret-file)."
)
@click.option(
    "--mnemonic",
    "source",
    flag_value="mnemonic",
    help="Import from a BIP-39 mnemonic (asked hidden, or --secret-file).",
)
@click.option(
    "--keyfile", type=click.Path(dir_okay=False), help="Import an existing v3 keyfile (geth, brownie, cast)."
)
@click.option(
    "--index", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True, help="Mnemonic account index."
)
@click.option(
    "--secret-file", type=click.Path(dir_okay=False), help="File holding the private key or mnemonic."
)
@click.option(
    "--keyfile-password-file",
    type=click.Path(dir_okay=False),
    help="File holding the imported keyfile's password.",
)
@shared_options
def wallet_import(
    alias: str,
    source: str | None,
    keyfile: str | None,
    index: int,
    secret_file: str | None,
    keyfile_password_file: str | None,
) -> None:
    """Import an account as ALIAS from a private key, a mnemonic or a keyfile."""
    c = get_ctx()
    c.keystore.path(alias)
    if c.keystore.exists(alias):
        from ..errors import AccountExistsError

        raise AccountExistsError(alias)
    if keyfile is not None:
        if source is not None:
            raise click.UsageError("give one of --private-key, --mnemonic or --keyfile")
        if not Path(keyfile).expanduser().is_file():
            raise ConfigError(
                f"--keyfile {keyfile}: no such file", "give the path of a v3 keyfile (geth, brownie, cast)"
            )
        # The store's own password (--password-file, GPUSETTLE_PASSWORD) is not the imported file's.
        old = ask_password(
            keyfile_password_file,
            label=f"Password of {keyfile}",
            environ={},
            hint="type it at the prompt, or pass --keyfile-password-file PATH (the keyfile's own password)",
        )
        new: str | None = None
        if c.password_file is not None or PASSWORD_ENV in os.environ:
            new = _new_password()
        address = c.keystore.import_keyfile(alias, keyfile, old, new)
    elif source == "key":
        secret = _read_secret(secret_file, "Private key")
        address = c.keystore.import_private_key(alias, secret, _new_password())
    elif source == "mnemonic":
        secret = _read_secret(secret_file, "Mnemonic")
        address = c.keystore.import_mnemonic(alias, secret, _new_password(), index=index)
    else:
        raise click.UsageError("say what to import: --private-key, --mnemonic or --keyfile PATH")
    c.emit(
        {"alias": alias, "address": address, "keyfile": str(c.keystore.path(alias))},
        f"imported {alias}: {address}",
    )


@wallet.command("list")
@shared_options
def wallet_list() -> None:
    """List the accounts in the store."""
    c = get_ctx()
    accounts = c.keystore.list()

    def human() -> None:
        if not accounts:
            click.echo(f"no accounts in {c.keystore.directory}; create one with `gpusettle wallet new ALIAS`")
        for alias, address in accounts:
            click.echo(f"{alias:24} {address}")

    c.emit(
        {
            "directory": str(c.keystore.directory),
            "accounts": [{"alias": a, "address": ad} for a, ad in accounts],
        },
        human,
    )


@wallet.command("address")
@click.argument("alias", required=False)
@shared_options
def wallet_address(alias: str | None) -> None:
    """Print the address of ALIAS (or of --account)."""
    c = get_ctx()
    name = alias or c.account_alias()
    address = c.keystore.address(name)
    c.emit({"alias": name, "address": address}, address)


@wallet.command("change-password")
@click.argument("alias", required=False)
@click.option("--new-password-file", type=click.Path(dir_okay=False), help="File holding the new password.")
@shared_options
def wallet_change_password(alias: str | None, new_password_file: str | None) -> None:
    """Re-encrypt ALIAS (or --account) under a new password."""
    c = get_ctx()
    name = alias or c.account_alias()
    c.keystore.address(name)
    old = c.password(f"Current password for {name}")
    c.keystore.unlock(name, old)  # WrongPasswordError before asking for the new one
    new = ask_password(new_password_file, label="New password", confirm=True, environ={})
    c.keystore.change_password(name, old, new)
    c.emit({"alias": name, "changed": True}, f"password of {name} changed")


@wallet.command("delete")
@click.argument("alias", required=False)
@shared_options
def wallet_delete(alias: str | None) -> None:
    """Delete ALIAS's keyfile (irreversible: back it up first)."""
    c = get_ctx()
    name = alias or c.account_alias()
    address = c.keystore.address(name)
    if not c.confirm(f"Delete {name} ({address})? Without a backup its funds are lost for good"):
        raise click.Abort()
    c.keystore.delete(name)
    c.emit({"alias": name, "address": address, "deleted": True}, f"deleted {name} ({address})")


wallet.add_command(encryption_key)
