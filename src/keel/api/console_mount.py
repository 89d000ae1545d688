"""Hook where the web console is mounted (a no-op until the console exists)."""

from __future__ import annotations

from fastapi import FastAPI

from keel.config import KeelConfig


def mount_console(app: FastAPI, cfg: KeelConfig) -> None:
    return None
