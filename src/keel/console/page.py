"""A console page: its router, its navigation entry, and its own strings.

To add a page (e.g. Evaluation): write ``keel/console/pages/evaluation.py`` with an
``APIRouter(route_class=ConsoleRoute)`` and a ``PAGE = Page(...)``, put its templates under
``templates/evaluation/`` extending ``base.html``, and add ``evaluation.PAGE`` to
``keel.console.routes.PAGES``. Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import APIRouter

from keel.console.auth import Permission


@dataclass(frozen=True)
class Page:
    key: str  # nav id; templates mark the active entry with it
    path: str  # where the nav entry points, e.g. "/console/inbox"
    label: str  # i18n key of the nav entry
    router: APIRouter  # routes relative to /console
    visible_to: Permission = Permission.VIEW  # who sees the nav entry
    landing_for: Permission | None = None  # agents holding this land here after login
    strings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # {"en": {...}, "zh": {...}}
