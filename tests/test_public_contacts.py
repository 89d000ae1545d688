"""The business's own published contacts (business.yaml `public_contacts:`) reach the customer; every other
e-mail address or phone number in a KB document is still redacted, and `keel check` names the ones it will hide."""

from __future__ import annotations

from pathlib import Path

import yaml

from keel.business import load_business
from keel.config import EXAMPLES_DIR, load_config
from keel.online.guard import GuardContext, GuardKind, check_reply
from keel.online.kb.sanitize import sanitize_passage
from keel.project.check import check_project
from keel.redact import contact_key, redact

BODY = "Write to support@skylarknotes.example or call +1 415 555 0100. Bob's line is +1 415 555 0199, bob@gmail.com."
PUBLIC = frozenset(contact_key(c) for c in ("Support@SkylarkNotes.example", "+1 (415) 555-0100"))


def test_public_contacts_stay_and_others_are_redacted():
    clean = sanitize_passage(BODY, PUBLIC)
    assert "support@skylarknotes.example" in clean.text and "+1 415 555 0100" in clean.text
    assert "bob@gmail.com" not in clean.text and "0199" not in clean.text and clean.redacted
    assert "support@" not in redact(BODY)  # without the list, everything is redacted as before


def test_the_guard_lets_a_contact_the_passages_show_through():
    shown = sanitize_passage(BODY, PUBLIC).text
    ctx = GuardContext(evidence=shown, customer_text="how do I reach you?", shown=shown)
    assert check_reply("You can write to support@skylarknotes.example.", ctx).passed
    leaked = check_reply("You can write to bob@gmail.com.", ctx)
    assert GuardKind.PERSONAL_DATA in {v.kind for v in leaked.violations}


def _skylark(tmp_path: Path, public: list[str] | None) -> Path:
    import shutil

    target = tmp_path / "sky"
    shutil.copytree((EXAMPLES_DIR / "skylark"), target)
    path = target / "business.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if public is None:
        data.pop("public_contacts", None)
    else:
        data["public_contacts"] = public
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def test_check_names_contacts_it_will_hide(tmp_path):
    folder = _skylark(tmp_path, None)
    cfg = load_config(folder / "keel.yaml", env={})
    report = check_project(cfg)
    hidden = [f for f in report.findings if "public_contacts" in f.message]
    assert hidden and all(f.severity.value == "warning" for f in hidden)
    assert any("support@skylarknotes.example" in f.message for f in hidden)


def test_skylark_publishes_its_addresses(tmp_path):
    business = load_business((EXAMPLES_DIR / "skylark") / "business.yaml")
    assert {contact_key(c) for c in business.public_contacts} >= {"support@skylarknotes.example"}
    cfg = load_config(_skylark(tmp_path, list(business.public_contacts)) / "keel.yaml", env={})
    assert not [f for f in check_project(cfg).findings if "public_contacts" in f.message]
