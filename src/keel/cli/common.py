"""Shared CLI plumbing: config from the global options, readable one-line errors, consoles."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from keel.config import KeelConfig, load_config
from keel.errors import KeelError, RuntimeFailure, UserError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # one error = one line, whatever the terminal width

F = TypeVar("F", bound=Callable[..., Any])


class State:
    config_path: Path | None = None
    home: Path | None = None
    model: str | None = None


STATE = State()


def config(**overrides: Any) -> KeelConfig:
    """The config from keel.yaml / --config, KEEL_* variables, and the global options."""
    return load_config(STATE.config_path, home=STATE.home, model=STATE.model, **overrides)


def friendly(fn: F) -> F:
    """Turn Keel's errors into one readable line and a non-zero exit code (2 user, 3 runtime)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            raise typer.Exit(2) from None
        except RuntimeFailure as exc:
            err_console.print(f"[bold red]failed:[/] {exc.message}", highlight=False)
            raise typer.Exit(3) from None
        except KeelError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; everything already stored is kept")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: one line, the traceback only on request
            if os.environ.get("KEEL_DEBUG"):
                raise
            err_console.print(
                f"[bold red]internal error:[/] {exc.__class__.__name__}: {exc} (set KEEL_DEBUG=1 for the traceback)",
                highlight=False,
            )
            raise typer.Exit(70) from None

    return wrapper  # type: ignore[return-value]


def read_text_arg(value: str) -> str:
    """A message argument; ``-`` reads standard input (bytes checked for UTF-8)."""
    if value != "-":
        return value
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        from keel.errors import InvalidInput

        raise InvalidInput("standard input is not valid UTF-8 text") from None
