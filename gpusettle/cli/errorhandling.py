"""Errors as `error:` and `hint:` lines, never tracebacks: for the `gpusettle` command and the daemons'
own entry points (`python -m gpusettle.worker`, `python -m gpusettle.oracle`)."""

from __future__ import annotations

import errno
import json
import os
import traceback
from typing import IO, Any, NoReturn
from urllib.parse import urlsplit

import click

from ..errors import GpusettleError, NotJsonRpcError, RpcUnavailableError

__all__ = ["DEBUG_ENV", "ErrorHandlingGroup", "ErrorMessage", "UsageMessage"]

DEBUG_ENV = "GPUSETTLE_DEBUG"


class ErrorMessage(click.ClickException):
    """A GpusettleError (or another failure) shown as `error: ...` and `hint: ...`, exit status 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None, kind: str, as_json: bool) -> None:
        super().__init__(message)
        self.hint = hint
        self.kind = kind
        self.as_json = as_json

    def show(self, file: IO[Any] | None = None) -> None:
        if self.as_json:
            click.echo(json.dumps({"error": self.message, "hint": self.hint, "type": self.kind}))
        click.echo(f"error: {self.message}", err=True)
        if self.hint:
            click.echo(f"hint: {self.hint}", err=True)


class ErrorHandlingGroup(click.Group):
    """A group whose commands' GpusettleErrors become messages, never tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise UsageMessage(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except GpusettleError as exc:
            raise _message(exc) from None
        except Exception as exc:
            import requests

            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                # The reader went away (`| head`): click's main ends quietly, as other Unix tools do.
                raise
            if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
                raise _message(RpcUnavailableError("the RPC endpoint", type(exc).__name__)) from None
            not_rpc = _not_json_rpc(exc)
            if not_rpc is not None:
                raise _message(not_rpc) from None
            _unexpected(exc)
        except KeyboardInterrupt:
            raise click.Abort() from None


def _unexpected(exc: BaseException) -> NoReturn:
    """The last resort: a message, never a traceback."""
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc)
    raise ErrorMessage(
        f"unexpected {type(exc).__name__}: {exc}",
        f"this is a bug in gpusettle; run again with {DEBUG_ENV}=1 for the traceback and report it",
        type(exc).__name__,
        _json_mode(),
    ) from None


def _json_mode() -> bool:
    from .context import get_ctx

    try:
        return bool(get_ctx().json)
    except RuntimeError:
        return False


def _not_json_rpc(exc: Exception) -> NotJsonRpcError | None:
    """An HTTP error status in answer to a JSON-RPC request: the URL is some other web server."""
    import requests

    if not isinstance(exc, requests.exceptions.HTTPError) or exc.request is None:
        return None
    body = getattr(exc.request, "body", None)
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    if '"jsonrpc"' not in text:
        return None
    parts = urlsplit(str(exc.request.url))
    status = exc.response.status_code if exc.response is not None else "error"
    return NotJsonRpcError(f"{parts.scheme}://{parts.netloc}", f"it answered HTTP {status}")


def _on_development() -> bool:
    from .context import get_ctx

    try:
        return bool(get_ctx().network.development)
    except Exception:  # noqa: BLE001 - no context or no network: no development hint
        return False


def _message(exc: GpusettleError) -> ErrorMessage:
    hint = exc.hint
    if isinstance(exc, RpcUnavailableError) and _on_development():
        hint = (
            "no local chain is up: start one with `gpusettle dev up` (or point --rpc-url at a running node)"
        )
    return ErrorMessage(exc.message, hint, type(exc).__name__, _json_mode())


class UsageMessage(click.ClickException):
    """A bad option or argument, in the same `error:` / `hint:` form as every other error; exit 2."""

    exit_code = 2

    def __init__(self, exc: click.UsageError) -> None:
        super().__init__(exc.format_message())
        self.command = exc.ctx.command_path if exc.ctx is not None else "gpusettle"

    def show(self, file: IO[Any] | None = None) -> None:
        if _json_mode():
            click.echo(json.dumps({"error": self.message, "hint": None, "type": "UsageError"}))
        click.echo(f"error: {self.message}", err=True)
        click.echo(f"hint: see `{self.command} --help`", err=True)
