"""Invented actions: a reply that says Keel did something it cannot do.

Keel takes one action itself: handing the conversation to a person. It never refunds, cancels,
changes an address, compensates, approves or escalates on its own; a reply that says it did
("we have processed your refund", "已为您办理补偿") misleads the customer. What the customer's
state reports as done (an order that *was* cancelled, a refund that *was* issued) may be stated, in
the passive, when the state says so.
"""

from __future__ import annotations

import re

# the things a reply may claim were done: (english stems, chinese verbs)
_DONE_EN = (
    r"(?:issu|process|refund|cancel+|chang|updat|credit|compensat|appl(?:y|i)|approv|arrang|escalat|"
    r"transferr?|submitt?|reset|unlock|resen[dt]|reschedul|book|waiv|revers|modifi|correct|"
    r"replac|reship|dispatch|ship|send|sent|add|remov|extend|upgrad|reimburs|fix|rais|log|open|creat|"
    r"forward|pass|flagg?|report|refer)\w*"
)
_ZH_VERBS = (
    r"(?:办理|处理|退款|退回|补偿|赔偿|修改|更改|更新|取消|申请|安排|提交|发放|重置|解冻|补发|重新发|"
    r"开具|开通|升级|转接|转交|登记|加急|催促|催单|延长|返还|退还|充值|激活|解绑|绑定|备注|上报|反馈)"
)
_ADVERBS = r"(?:just\s+|already\s+|now\s+|successfully\s+|also\s+|gone\s+ahead\s+and\s+)*"
_EN_FIRST_PERSON = re.compile(
    rf"\b(?:i|we)(?:'ve|’ve|\s+have|\s+had)\s+{_ADVERBS}({_DONE_EN})\b"  # perfect: "we've refunded"
    rf"|\b(?:i|we)\s+{_ADVERBS}((?=\w*(?:ed|sent|reset)\b){_DONE_EN})\b",  # past: "I processed"
    re.I,
)
_EN_PASSIVE_FOR_YOU = re.compile(
    rf"\b(?:has|have)\s+(?:now\s+|already\s+|just\s+)?been\s+(?:successfully\s+)?({_DONE_EN})\b"
    r"(?:[^.!?]{0,40}\b(?:for you|on your behalf|as you requested|as requested))",
    re.I,
)
_EN_DONE_STATUS = re.compile(
    rf"\b(?:your|the)\s+(refund|compensation|voucher|coupon|credit|address|request|order|return|replacement|"
    rf"cancellation|claim|complaint|ticket)\s+(?:(?:has|have)\s+(?:now\s+|already\s+|just\s+)?been|was|were)\s+"
    rf"(?:successfully\s+)?({_DONE_EN})\b",
    re.I,
)
_ZH_DONE = re.compile(
    rf"(?:(?:已|已经)(?:成功)?(?:为您|为你|帮您|帮你|给您|给你|替您|将您|把您|对您)[^。！？!?]{{0,12}}?{_ZH_VERBS}"
    rf"|我们?(?:这边)?(?:已|已经)(?:成功)?(?:根据|按照|按|为|帮|对|将|把|给)?[^。！？!?]{{0,14}}?{_ZH_VERBS}"
    rf"|(?:已|已经)(?:成功)?{_ZH_VERBS}(?:成功|完毕|好了)"
    rf"|{_ZH_VERBS}(?:已|已经)(?:成功)?(?:完成|提交|办理|生效|到账))"
)
# a handoff may say so: these are the words of passing the conversation on
_HANDOFF_EN = re.compile(r"transfer|escalat|pass|forward|refer|connect|rais|flag|log|open|creat", re.I)
_HANDOFF_ZH = re.compile(r"转接|转交|升级|反馈|上报|登记")


def _stated_done(claim: str, state_text: str) -> bool:
    """Does the customer's state already say this happened (the claim restates a fact, not an act)?"""
    state = state_text.lower()
    if not state:
        return False
    word = claim.lower()
    stem = re.sub(r"(?:ed|ing|s)$", "", word)
    if len(stem) >= 4 and stem[:5] in state:
        return True
    zh = re.findall(_ZH_VERBS, claim)
    return any(v in state_text for v in zh)


def find_invented_action(reply: str, state_text: str = "", handing_off: bool = False) -> str | None:
    """The claimed action Keel did not take, or None.

    *state_text* is the customer block (what the company's systems say happened); *handing_off*: the
    decision is a handoff, so a reply may say the conversation was passed on.
    """
    for pattern in (_EN_FIRST_PERSON, _EN_PASSIVE_FOR_YOU):
        for m in pattern.finditer(reply):
            verb = next(g for g in m.groups() if g)
            if handing_off and _HANDOFF_EN.match(verb):
                continue
            return m.group(0)
    for m in _EN_DONE_STATUS.finditer(reply):
        verb = m.group(2)
        if handing_off and _HANDOFF_EN.match(verb):
            continue
        if _stated_done(verb, state_text) and not re.search(r"\b(?:for you|on your behalf)\b", reply, re.I):
            continue
        return m.group(0)
    for m in _ZH_DONE.finditer(reply):
        claim = m.group(0)
        if handing_off and _HANDOFF_ZH.search(claim):
            continue
        first_person = re.search(r"为您|为你|帮您|帮你|给您|给你|替您|我", claim)
        if not first_person and _stated_done(claim, state_text):
            continue
        return claim
    return None
