"""One error hierarchy for Keel.

User mistakes (bad config, bad input, unknown ids) derive from :class:`UserError`; failures of the
running system (model backend down, database unavailable) derive from :class:`RuntimeFailure`.
Refusing or handing off is never an exception: those are :class:`keel.domain.Decision` values.
"""

from __future__ import annotations


class KeelError(Exception):
    """Base class of every error Keel raises on purpose."""

    #: HTTP status the API answers with when this error reaches it.
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UserError(KeelError):
    """The caller asked for something wrong: fix the input and try again."""

    http_status = 400


class InvalidInput(UserError):
    """A message, file or request body that cannot be used (empty, too large, not UTF-8...)."""

    http_status = 422


class ConfigError(UserError):
    """A configuration file or setting is invalid."""


class NotFound(UserError):
    """An id (user, conversation, handoff, KB version, run) that does not exist."""

    http_status = 404


class Conflict(UserError):
    """The request conflicts with the current state (a handoff already claimed, ...)."""

    http_status = 409


class Unauthorized(UserError):
    """Missing or wrong credentials."""

    http_status = 401


class Forbidden(UserError):
    """Known credentials, but not allowed to do this (a role without the permission, an expired form)."""

    http_status = 403


class RuntimeFailure(KeelError):
    """Something Keel depends on failed while running (model backend, database, network)."""

    http_status = 503


class ModelUnavailable(RuntimeFailure):
    """The model backend cannot be used (missing cache, server down, timeout)."""
