"""Identity: an account question waits for the business's identity check; unverified customers get general answers.

Skylark's business.yaml asks for the e-mail address on the account (`identity: {method: fields}`); a
token business is the same business with `method: token` and a secret in the environment.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from keel.business import IdentityMethod, IdentitySpec, Text
from keel.config import EXAMPLES_DIR, load_config
from keel.db import open_database
from keel.db.schema import traces
from keel.domain import Action, Lang, Reason
from keel.errors import ConfigError
from keel.online.handoff import list_handoffs
from keel.online.kb import store
from keel.online.model.scripted import ScriptedModel
from keel.online.pipeline import MessageRequest, handle_message
from keel.online.runtime import open_runtime
from keel.online.state.identity import TokenCheck, check_token, sign_token, stated
from keel.online.state.model import UserState
from keel.online.state.validate import check_user

SKYLARK = EXAMPLES_DIR / "skylark"
ACCOUNT_Q = "What's the status of my subscription? When does it renew?"


@pytest.fixture(scope="module")
def skylark(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path):
    """Skylark's runtime (router off, scripted model); ``make(identity=...)`` swaps the identity check."""
    home = tmp_path_factory.mktemp("identity")
    base = load_config(
        SKYLARK / "keel.yaml",
        env={},
        home=home,
        model="scripted",
        today=date(2026, 11, 24),
        embedding_cache_dir=embedding_cache,
        router={"enabled": False},
    )

    def make(identity: IdentitySpec | None = None):
        cfg = base
        if identity is not None:
            cfg = base.model_copy(update={"business": base.business.model_copy(update={"identity": identity})})
        rt = open_runtime(cfg, model=ScriptedModel(()))
        if store.current_version(rt.db, rt.tenant) is None:
            for source in cfg.kb_sources:
                store.publish_folder(rt.db, source.folder, overlay=source.overlay, regions=cfg.business.regions)
        return rt

    return make


def _send(rt, conv: str, text: str, user: str = "s2001", **kw):
    return handle_message(rt, MessageRequest(conversation_id=conv, text=text, user_id=user, **kw))


def test_an_unverified_customer_asking_about_their_subscription_is_asked_to_verify(skylark):
    rt = skylark()
    r = _send(rt, "id-ask", ACCOUNT_Q)
    assert r.decision.action is Action.CLARIFY and r.decision.reason is Reason.VERIFY_IDENTITY, r.decision
    assert "e-mail address" in (r.reply or "")
    assert "SUB-310451" not in (r.reply or "") and r.state_text == ""  # the record stayed out of the turn


def test_an_unverified_customer_gets_general_answers_without_their_record(skylark):
    rt = skylark()
    r = _send(rt, "id-general", "Do you charge sales tax?")
    assert r.decision.reason is not Reason.VERIFY_IDENTITY
    assert r.state_text == ""  # no customer block reached the prompt
    assert _send(rt, "id-general-ok", "Do you charge sales tax?", verified=True).state_text != ""


def test_the_question_is_answered_once_the_email_matches(skylark):
    rt = skylark()
    assert _send(rt, "id-flow", ACCOUNT_Q).decision.reason is Reason.VERIFY_IDENTITY
    wrong = _send(rt, "id-flow", "it's emily@example.org")
    assert wrong.decision.reason is Reason.VERIFY_IDENTITY and "doesn't match" in (wrong.reply or "")
    ok = _send(rt, "id-flow", "Emily.Carter@Example.com")  # case differs from the record
    assert (ok.reply or "").startswith("Thank you, you're verified."), ok.reply
    assert ok.decision.reason is not Reason.VERIFY_IDENTITY and ok.state_text != ""
    with rt.db.engine.connect() as conn:
        statuses = [row.data["identity"] for row in conn.execute(select(traces.c.data).order_by(traces.c.created_at))]
    assert statuses[-3:] == ["unverified", "failed", "just_verified"]
    later = _send(rt, "id-flow", ACCOUNT_Q)  # the conversation stays verified
    assert later.decision.reason is not Reason.VERIFY_IDENTITY and later.state_text != ""


def test_an_email_with_the_question_verifies_and_answers_in_one_message(skylark):
    r = _send(skylark(), "id-one", "emily.carter@example.com here - when does my subscription renew?")
    assert (r.reply or "").startswith("Thank you, you're verified.") and r.state_text != ""


def test_a_new_question_after_the_request_is_not_counted_as_a_failed_attempt(skylark):
    rt = skylark()
    _send(rt, "id-topic", ACCOUNT_Q)
    r = _send(rt, "id-topic", "Actually, never mind that. Which plans include version history for files?")
    assert r.decision.reason is not Reason.VERIFY_IDENTITY, r.decision


def test_too_many_failed_attempts_go_to_a_human(skylark):
    rt = skylark()
    _send(rt, "id-lock", ACCOUNT_Q)
    for attempt in ("a@b.com", "c@d.com"):
        assert _send(rt, "id-lock", attempt).decision.reason is Reason.VERIFY_IDENTITY
    r = _send(rt, "id-lock", "e@f.com")
    assert r.decision.action is Action.HANDOFF and r.decision.reason is Reason.IDENTITY_FAILED
    queued = [h for h in list_handoffs(rt.db, tenant=rt.tenant) if h.conversation_id == "id-lock"]
    assert queued and queued[0].reason == Reason.IDENTITY_FAILED.value


def test_a_red_line_outranks_the_identity_check(skylark):
    rt = skylark()
    r = _send(rt, "id-human", "I want to talk to a human agent about my subscription")
    assert r.decision.action is Action.HANDOFF and r.decision.reason is not Reason.VERIFY_IDENTITY, r.decision


def test_a_signed_token_from_the_front_end_verifies(skylark, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KEEL_IDENTITY_SECRET", "s3cret-for-tests")
    rt = skylark(IdentitySpec(method=IdentityMethod.TOKEN, sign_in=Text(en="Sign in first, please.", zh="请先登录。")))
    no_token = _send(rt, "tok-none", ACCOUNT_Q)
    assert no_token.decision.reason is Reason.VERIFY_IDENTITY and no_token.reply == "Sign in first, please."
    forged = _send(rt, "tok-bad", ACCOUNT_Q, identity_token=sign_token("s2001", "another secret"))
    assert forged.decision.reason is Reason.VERIFY_IDENTITY
    someone_else = _send(rt, "tok-other", ACCOUNT_Q, identity_token=sign_token("s2002", "s3cret-for-tests"))
    assert someone_else.decision.reason is Reason.VERIFY_IDENTITY
    good = _send(rt, "tok-ok", ACCOUNT_Q, identity_token=sign_token("s2001", "s3cret-for-tests"))
    assert good.decision.reason is not Reason.VERIFY_IDENTITY and good.state_text != ""
    assert not (good.reply or "").startswith("Thank you, you're verified.")


def test_token_checks():
    token = sign_token("u1", "k")
    assert check_token(token, "u1", "k", 60) is TokenCheck.VALID
    assert check_token(token, "u2", "k", 60) is TokenCheck.INVALID
    assert check_token(token + "x", "u1", "k", 60) is TokenCheck.INVALID
    assert check_token(token, "u1", None, 60) is TokenCheck.NO_SECRET
    time.sleep(1.1)
    assert check_token(token, "u1", "k", 0) is TokenCheck.EXPIRED


def test_name_and_postcode_are_matched_without_case_spaces_or_punctuation():
    spec = IdentitySpec(
        method=IdentityMethod.FIELDS,
        fields={"name": Text(en="name", zh="姓名"), "postcode": Text(en="postcode", zh="邮编")},
    )
    user = UserState(user_id="x", name="Lukas Meyer", verify={"postcode": "10115"})
    assert stated(user, spec, "lukas meyer, 10 115")
    assert not stated(user, spec, "Lukas Meyer")  # both are needed
    assert not stated(UserState(user_id="y", name="Lukas Meyer"), spec, "Lukas Meyer 10115")  # no postcode on file


def test_the_business_file_rejects_an_identity_check_without_fields():
    with pytest.raises(ValueError, match="needs at least one field"):
        IdentitySpec(method=IdentityMethod.FIELDS)
    with pytest.raises(ValueError, match="only used with method `fields`"):
        IdentitySpec(method=IdentityMethod.TOKEN, fields={"email": Text(en="e-mail", zh="邮箱")})


def test_keel_check_names_a_customer_who_can_never_verify():
    sky = load_config(SKYLARK / "keel.yaml", env={}).business
    assert sky.identity.method is IdentityMethod.FIELDS
    problems = check_user(sky, UserState(user_id="s9", region="us"))
    assert any(p.startswith("email: missing") for p in problems), problems


def test_an_older_database_gains_the_conversation_memory_columns(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE conversations (tenant VARCHAR(64) NOT NULL, id VARCHAR(128) NOT NULL, "
                "user_id VARCHAR(128), lang VARCHAR(8), status VARCHAR(16) NOT NULL, created_at DATETIME NOT NULL, "
                "updated_at DATETIME NOT NULL, PRIMARY KEY (tenant, id))"
            )
        )
        conn.execute(
            text("INSERT INTO conversations VALUES ('default', 'c1', 'u1', 'en', 'bot', '2026-01-01', '2026-01-01')")
        )
    db = open_database(f"sqlite:///{path}")
    columns = {c["name"] for c in inspect(db.engine).get_columns("conversations")}
    assert {"last_action", "last_reason", "verified_at", "verify_failures", "pending_question"} <= columns
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT id, last_action FROM conversations")).all() == [("c1", None)]


def test_a_bad_identity_section_names_the_field(tmp_path: Path):
    import yaml

    from keel.business import load_business

    data = yaml.safe_load((SKYLARK / "business.yaml").read_text(encoding="utf-8"))
    data["identity"] = {"method": "password"}
    path = tmp_path / "business.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"identity\.method"):
        load_business(path)


def test_chinese_wording_lists_every_field():
    from keel.online.identity import Identity, IdentityStatus, identity_reply

    spec = IdentitySpec(
        method=IdentityMethod.FIELDS,
        fields={"name": Text(en="name", zh="姓名"), "postcode": Text(en="postcode", zh="邮编")},
    )
    zh = identity_reply(spec, Identity(IdentityStatus.UNVERIFIED), Lang.ZH)
    en = identity_reply(spec, Identity(IdentityStatus.FAILED, failures=1), Lang.EN)
    assert "姓名和邮编" in zh and "name and postcode" in en and "doesn't match" in en
