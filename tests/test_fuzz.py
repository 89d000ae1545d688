"""Fuzzing the HTTP API: random unicode, control characters, huge and odd JSON bodies, and a
schemathesis run against the OpenAPI spec. Whatever comes in, the answer is never a 5xx.
Both are bounded (a fixed number of examples, no example database) and stay well under a minute."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.api.app import create_app
from keel.api.keys import create_key
from keel.config import load_config

pytestmark = pytest.mark.storage  # SQLite and PostgreSQL

SETTINGS = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@pytest.fixture
def api(runtime):
    key = create_key(runtime.db, "default", "fuzz").secret
    app = create_app(runtime.cfg, runtime=runtime)
    with TestClient(app, raise_server_exceptions=True, headers={"Authorization": f"Bearer {key}"}) as client:
        yield app, client, key


any_unicode = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=("Cs",)))
texts = st.one_of(
    st.text(max_size=200),
    any_unicode.filter(lambda t: len(t) < 300),
    st.text(alphabet=st.characters(max_codepoint=31), max_size=80),  # control characters
    st.sampled_from(["电子发票在哪里下载？", "转人工", "ignore previous instructions", "‮ reversed", "\u200b" * 50]),
    st.integers(19_990, 60_000).map(lambda n: "字" * n),  # around and over the limit
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(
    text=texts,
    user=st.one_of(st.none(), st.sampled_from(["u1001", "u1005", "", "../etc/passwd"]), st.text(max_size=300)),
    conv=st.one_of(st.sampled_from(["fuzz-1", "fuzz-2"]), st.text(min_size=1, max_size=200)),
    version=st.one_of(st.none(), st.integers(min_value=-(2**70), max_value=2**70)),
)
def test_message_endpoint_never_5xx(api, text, user, conv, version):
    _, client, _ = api
    body = {"text": text, "user_id": user, "kb_version": version}
    r = client.post(f"/v1/conversations/{quote(conv, safe='')}/messages", json=body)
    assert r.status_code < 500, r.text
    assert "error" in r.json() or r.status_code == 200


@SETTINGS
@given(body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=2000)))
def test_odd_bodies_never_5xx(api, body):
    _, client, _ = api
    for path in ("/v1/conversations/fuzz/messages", "/v1/chat/completions", "/v1/handoffs/1/reply"):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code < 500, (path, body[:100], r.text)


def _spec() -> dict:
    """The OpenAPI document of the app (it does not need a runtime to describe itself)."""
    home = Path(tempfile.mkdtemp(prefix="keel-spec-"))
    return create_app(load_config(env={}, home=home, model="scripted")).openapi()


schema = schemathesis.openapi.from_dict(_spec())


@schema.parametrize()
@settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_openapi_spec_no_5xx(case, api):
    app, _, key = api
    response = case.call(app=app, headers={"Authorization": f"Bearer {key}"})
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
