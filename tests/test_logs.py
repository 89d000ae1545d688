"""Logs are redacted and still format: uvicorn's access lines keep their arguments."""

import logging

from uvicorn.logging import AccessFormatter

from keel.logs import RedactingFilter


def _record(msg, args):
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_access_log_lines_format_after_redaction():
    record = _record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", "/v1/users/13912345678", "1.1", 200))
    assert RedactingFilter().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert "13912345678" not in line and "GET" in line and "200" in line


def test_messages_and_arguments_are_redacted():
    record = _record("customer %s wrote from x.y@example.com", ("+86 139 1234 5678",))
    RedactingFilter().filter(record)
    text = record.getMessage()
    assert "1234 5678" not in text and "x.y@example.com" not in text and text.startswith("customer ")


def test_a_bad_format_string_keeps_the_record():
    record = _record("rate %d%", ("x",))
    assert RedactingFilter().filter(record)
    assert "rate" in record.getMessage()
