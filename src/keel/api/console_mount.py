"""Hook where the web console is mounted (``/console``; ``/`` redirects there)."""

from __future__ import annotations

from fastapi import FastAPI

from keel.config import KeelConfig


def mount_console(app: FastAPI, cfg: KeelConfig) -> None:
    from keel.console.routes import mount

    mount(app, cfg)
