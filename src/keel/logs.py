"""Logging that never writes personal data: every record is redacted before a handler sees it."""

from __future__ import annotations

import logging
import sys

from keel.redact import redact

_LOGGERS = ("", "keel", "uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy")


class RedactingFilter(logging.Filter):
    """Formats the message (and any traceback) once, redacted; arguments never reach the output raw."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _has_filter(handler: logging.Handler) -> bool:
    return any(isinstance(f, RedactingFilter) for f in handler.filters)


def configure_logging(level: int = logging.WARNING) -> None:
    """Attach the redacting filter to every handler of Keel's, uvicorn's and the root logger.

    Keel's own records go to stderr when nothing else handles them. Safe to call repeatedly
    (once per worker process).
    """
    keel_logger = logging.getLogger("keel")
    if not keel_logger.handlers and not logging.getLogger().handlers:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        keel_logger.addHandler(handler)
        keel_logger.setLevel(level)
    for name in _LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not _has_filter(handler):
                handler.addFilter(RedactingFilter())
