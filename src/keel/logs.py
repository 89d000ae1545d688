"""Logging that never writes personal data: every record is redacted before a handler sees it."""

from __future__ import annotations

import logging
import sys

from keel.redact import redact

_LOGGERS = ("", "keel", "uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy")


class RedactingFilter(logging.Filter):
    """Redacts the message, each argument and any traceback; arguments never reach the output raw."""

    def filter(self, record: logging.LogRecord) -> bool:
        # arguments stay arguments (uvicorn's access formatter unpacks them), each redacted; the
        # format string is redacted too, for messages built before logging
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        try:
            record.getMessage()
        except Exception:  # a bad format string must not lose the record
            record.msg, record.args = redact(str(record.msg)), None
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
