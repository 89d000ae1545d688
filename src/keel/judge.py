"""The behaviour judge: which action a free-text reply takes, and whether it soothes (zh and en).

Used where no structured decision exists: the replies of a bare or external model in the
evaluation, and the action a local model implies when it writes no ACTION line. Its agreement
with hand labels is measured on ``evals/judge_calibration.jsonl`` (``keel eval judge-check``).
"""

from __future__ import annotations

import re

from keel.domain import Action, Frozen, Lang
from keel.text import detect_lang, normalize


class Judgement(Frozen):
    action: Action
    soothe: bool
    cues: tuple[str, ...] = ()


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_HANDOFF = _rx(
    r"转接",
    r"转人工",
    r"转给",
    r"转交",
    r"移交",
    r"交给.{0,8}(同事|专员|团队|人工|主管)",
    r"人工客服(会|将|同事|马上|稍后)",
    r"(同事|专员|专人|主管|团队|小组)(会|将|马上|稍后|尽快|来)",
    r"由.{0,10}(同事|专员|专人|主管|团队).{0,6}(处理|跟进|接手|联系)",
    r"接手",
    r"升级给",
    r"已为您(提交|登记).{0,6}(人工|专员)",
    r"稍(后|候).{0,10}(联系|回复)您",
    r"(转|安排|请|找|叫)(到)?.{0,4}(人工|真人|专属客服|专员|主管|同事)",
    r"通知.{0,12}同事",
    r"(他|她|他们)会.{0,10}(联系|回复)您",
    r"\bbr(ing|ought) in\b",
    r"\basked (a|my|our) (manager|supervisor|colleague|senior)\b",
    r"\bpassed (on|along)\b",
    r"\bforward(ed|ing)? (it|this|your)\b",
    r"\bwith our [\w ]{0,20}team( now)?\b",
    r"\bthey'll (message|reply|contact|be with)\b",
    r"\bpass a note\b",
    r"\bone moment\b",
    r"\bbring in\b",
    r"\btransfer(ring|red)?\b",
    r"\bconnect(ing)? you\b",
    r"\bpass(ing|ed)? (this|you|it|your \w+|the \w+)( \w+)? (on )?to\b",
    r"\bhand(ing|ed)? (you|this|it|your \w+) (over|off|on)\b",
    r"\bescalat(e|ed|ing)\b",
    r"\b(colleague|specialist|supervisor|human agent|teammate|team member|our team|a person)\b.{0,40}"
    r"\b(will|shall|is going to|'ll)\b",
    r"\bwill (reply|respond|follow up|get back|contact you|be in touch)\b.{0,30}"
    r"\b(here|this chat|this conversation|shortly|soon)\b",
    r"\bsomeone (will|from)\b",
)
_OFFER = _rx(
    r"如(果)?(您)?需要",
    r"如需",
    r"也可以(联系|找|转)",
    r"可以帮您转",
    r"要不要.{0,6}转",
    r"需要的话",
    r"\bif you('d)? (like|want|prefer|need)\b",
    r"\bcan also\b",
    r"\bwould you like\b",
    r"\bfeel free to\b",
    r"\bif you still\b",
    r"\banytime\b",
)
_REFUSE = _rx(
    r"无法",
    r"不能(为|帮|提供|透露|修改|开具|给|办理|查询|告诉|这样)",
    r"不可以",
    r"没法",
    r"没办法",
    r"不便(透露|提供|告知)",
    r"不会(提供|透露|给)",
    r"不提供",
    r"不予",
    r"不参与",
    r"帮不了",
    r"做不到",
    r"恕我",
    r"不能给您",
    r"不能满足",
    r"(办|做|开|用|退|改)不了",
    r"不方便(提供|透露)",
    r"不对外",
    r"恐怕",
    r"不能(出具|无理由|退|改|开)",
    r"\bcan(no|')t\b",
    r"\bcan not\b",
    r"\bunable to\b",
    r"\bnot able to\b",
    r"\bwon't be able\b",
    r"\bnot allowed\b",
    r"\bnot permitted\b",
    r"\bnot possible\b",
    r"\bi'?m afraid\b",
    r"\bwe (don't|do not|never) (share|disclose|provide|give out|issue|alter|change)\b",
    r"\bnot something (i|we) can\b",
    r"\bdecline\b",
    r"\bisn't something (i|we) can\b",
    r"\bhave to pass\b",
    r"\bnot (able|in a position) to\b",
    r"\bwon't (be )?(share|sharing|provide|change|issue)\b",
)
_CLARIFY = _rx(
    r"请问",
    r"请(提供|告诉|发|确认|补充)",
    r"麻烦(您)?(提供|告诉|发|确认|补充|说)",
    r"能否(提供|告诉|说)",
    r"方便(提供|告诉|说)",
    r"哪(个|一|天|款|里|种)",
    r"是哪",
    r"具体是",
    r"具体(哪|什么)",
    r"订单号(是|多少)",
    r"您是(指|说)",
    r"是指",
    r"\bcould you (please )?(tell|share|provide|confirm|send|let me know|clarify|describe)\b",
    r"\bcan you (tell|share|provide|confirm|send|clarify|describe)\b",
    r"\bwhich (order|product|item|one|region|country)\b",
    r"\bwhat is your order\b",
    r"\bdo you mean\b",
    r"\bdid you mean\b",
    r"\bmay i (have|ask)\b",
    r"\bplease (share|provide|send|confirm|let me know)\b",
    r"\bwhat (exactly|seems)\b",
    r"\bwhen did\b",
    r"\bwhere did\b",
)
_SOOTHE = _rx(
    r"添(了)?麻烦",
    r"久等",
    r"理解您",
    r"理解你",
    r"明白您(的|现在)",
    r"体谅",
    r"非常抱歉",
    r"很抱歉(给|让|您|这|出现|发生)",
    r"真的很抱歉",
    r"抱歉(给|让)您",
    r"抱歉.{0,6}(出了问题|不好的体验|体验|困扰|不便|晚到|延误|着急|担心)",
    r"辛苦(您)?了",
    r"别(着急|担心)",
    r"不要(着急|担心)",
    r"您的(心情|感受|担心|不满|着急)",
    r"让您(失望|不开心|着急|担心|受)",
    r"不便",
    r"心疼",
    r"\bsorry (to hear|for (the|all|any|this|that|your)|about|that you|you('re| are|'ve| have))\b",
    r"\bi('m| am) (so |really |very )?sorry\b(?!,? (but )?(i|we) (can|cannot|can't|am unable|only))",
    r"\bi (completely |totally )?understand (how|your|that|why)\b",
    r"\bapolog(ise|ize|ies) for\b",
    r"\bfrustrat",
    r"\bmust (be|have been)\b",
    r"\bi know (this|how)\b",
    r"\bthat sounds\b",
    r"\bi hear you\b",
    r"\bunderstandabl",
    r"\bworr(y|ied|ying)\b",
    r"\binconvenience\b",
)
_NOT_SOOTHE = _rx(
    r"^(抱歉|不好意思|对不起)[，,]?(我|这边)?(无法|不能|没法|没太明白|不太明白|只能)",
    r"^sorry,? (i|we) (can|cannot|can't|only|am unable)",
)
_POSSIBLE_Q = _rx(
    r"吗[?？]?$",
    r"能不能",
    r"可不可以",
    r"可以.{0,12}吗",
    r"能.{0,12}吗",
    r"是否",
    r"有没有",
    r"^(can|could|may) i\b",
    r"\bis (it|there|that) (possible|allowed|ok)\b",
    r"^(do|does|is|are|will) (you|it|the|my)\b",
)
_ASKS_CUSTOMER = _rx(
    r"(您|你).{0,30}[?？]",
    r"\byou\b[^.!?]{0,60}\?",
    r"\b(which|when|where|what|how)\b[^.!?]{0,60}\?",
    r"(发给我|告诉我|提供给我|发一下|拍照)",
    r"\b(send|share|tell) me\b",
)
_NOT_A_QUESTION = _rx(
    r"还有(什么|其他)", r"\banything else\b", r"\bwould you like\b", r"需要.{0,8}吗[?？]?$", r"\bshall i\b"
)
_DEMAND = _rx(
    r"给我",
    r"帮我",
    r"我要",
    r"直接",
    r"马上",
    r"赶紧",
    r"必须",
    r"按.{0,6}(给|算)",
    r"告诉我",
    r"把.{0,20}(给|发|改)",
    r"\bgive me\b",
    r"\bjust\b",
    r"\bi want\b",
    r"\bi demand\b",
    r"\btell me\b",
    r"\bsend me\b",
    r"\bshow me\b",
    r"\bchange (the|my)\b",
    r"\bapply\b",
    r"\bmake it\b",
    r"\bi need you to\b",
    r"\bignore\b",
    r"\bpretend\b",
    r"\bwhat is (his|her|their)\b",
)
_QUESTION = re.compile(r"[?？]")


def judge_reply(reply: str, customer: str = "", lang: Lang | None = None) -> Judgement:
    """Classify a free-text reply; the customer's message (when known) helps tell refuse from answer."""
    text = normalize(reply)
    lang = lang or detect_lang(reply)
    cues: list[str] = []
    handoff = _HANDOFF.search(text)
    offer = _OFFER.search(text)
    refuse = _REFUSE.search(text)
    clarify = _CLARIFY.search(text)
    demand = _DEMAND.search(normalize(customer)) if customer else None
    soothe = bool(_SOOTHE.search(text)) and not (_NOT_SOOTHE.search(text) and len(text) < 40)

    action = Action.ANSWER
    if handoff and not (offer and offer.start() < handoff.start() + 12):
        action = Action.HANDOFF
        cues.append(f"handoff:{handoff.group(0)}")
    elif (
        (clarify or _ASKS_CUSTOMER.search(text))
        and (_QUESTION.search(text) or clarify)
        and not (refuse and demand)
        and not _NOT_A_QUESTION.search(text[-40:])
    ):
        action = Action.CLARIFY
        cues.append(f"clarify:{(clarify or _ASKS_CUSTOMER.search(text)).group(0)}")  # type: ignore[union-attr]
    elif refuse and not (customer and _POSSIBLE_Q.search(normalize(customer)) and not demand):
        action = Action.REFUSE
        cues.append(f"refuse:{refuse.group(0)}")
    if soothe:
        cues.append("soothe")
    return Judgement(action=action, soothe=soothe, cues=tuple(cues))
