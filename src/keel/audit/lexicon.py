"""Word lists of the audit: how people write empathy, resolution, grants, state and time.

These are language, not shop facts: which windows, amounts and exclusions apply always comes
from the pinned KB (``policy.py``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from keel.text import TermMatcher, tokenize


def _words(text: str) -> list[str]:
    """A comma-separated word list."""
    return [w.strip() for w in text.split(",") if w.strip()]


EMPATHY = TermMatcher(
    _words(
        "sorry, apologi*, understand, frustrat*, inconvenience, rest assured, bear with, bearing with, "
        "value your, your patience, hear that, oh no, must be, we care, 抱歉, 不好意思, 理解, 不便, 放心, 消消气, "
        "耐心, 重视, 久等, 添麻烦, 着急, 心情, 体谅, 辛苦"
    )
)
RESOLUTION = TermMatcher(
    _words(
        "you can, go to, please send, please provide, could you, can you share, can you send, submitted, "
        "transferred, transfer you, escalat*, refund*, return*, replace*, exchange, repair*, tracking, "
        "order number, my orders, settings, ticket, within, tap, click, i've checked, i have checked, "
        "contact you, 可以, 请在, 帮您, 为您, 提交, 转接, 升级, 退款, 退货, 换货, 维修, 寄回, 查看, 点击, 订单号, "
        "我的订单, 设置, 工单, 小时内, 天内, 联系您, 麻烦您提供, 请提供"
    )
)
# a closing question is no clarifying question
CLOSING = TermMatcher(_words("anything else, something else, anything more, 还有什么, 还有其他, 其他问题, 别的问题"))
# greetings and politeness around a question: not part of what is asked (clustering ignores them)
FILLERS = _words(
    "hi there, hello, hi, hey, pls help, please help, pls, please, urgent, quick question, sorry to bother, "
    "excuse me, 麻烦问下, 麻烦问一下, 请问一下, 请问, 在不在, 在吗, 你好, 您好, 急, 那个, 亲"
)
SMALL_TALK = TermMatcher(
    _words(
        "hi, hello, hey, thanks, thank you, ok, okay, got it, bye, good, great, "
        "你好, 您好, 在吗, 谢谢, 好的, 好, 明白了, 嗯, 再见, 收到"
    )
)

# an agent gives something (a return, a refund, a voucher, a reissue)
GRANT = TermMatcher(
    _words(
        "i'll refund, i will refund, we'll refund, we will refund, refund it, refund the difference, "
        "full refund, approve the return, accept the return, opened the return, set up the return, "
        "i've set up, reissue it, reissue, compensate*, voucher, coupon, make up for, exception, "
        "special approval, just this once, send it back, send them back, i've submitted, "
        "给您退, 帮您退, 为您退, 退款, 办理退货, 提交了退货, 重开, 补偿, 优惠券, 破例, 特批, 特殊处理, 寄回, "
        "退差价, 差价给您"
    )
)
REFUSAL = TermMatcher(
    _words(
        "can't, cannot, can not, not, unfortunately, unable, outside, no longer, only if, "
        "不支持, 无法, 不能, 不可以, 不参加, 不参与, 超过期限, 已经超过, 只能, 不适用"
    )
)
# an agent says out loud that it goes beyond the rules
EXCEPTION_MARK = TermMatcher(
    _words(
        "exception, just this once, special approval, one-time, one time, as a favour, as a favor, "
        "破例, 特批, 特殊处理, 特殊情况, 通融, 下不为例, 额外"
    )
)
GIVE = TermMatcher(_words("add, give, send, issue, compensat*, credit, 给您, 补偿, 发放, 赠送, 送您, 发到"))
QUALITY_CLAIM = TermMatcher(
    _words(
        "broke, broken, faulty, defect*, not working, stopped working, doesn't work, does not work, "
        "crackl*, leak*, noise, noisy, quality, damaged, "
        "坏了, 坏, 质量问题, 故障, 杂音, 漏水, 不工作, 不加热, 破损, 质量"
    )
)
QUALITY_RULE = TermMatcher(_words("quality, faulty, defect*, 质量"))
REPEAT = TermMatcher(_words("again, already, second, another, one more, 再, 又, 已经, 第二次, 之前"))
COMPENSATION = TermMatcher(_words("compensat*, 补偿, 赔偿"))
NEGATION_EN = re.compile(r"\b(?:cannot|can't|can not|not|no longer|excluded|never|no(?!-))\b")
NEGATION_ZH = re.compile(r"不|无法")

REGION_NAMES: dict[str, tuple[str, ...]] = {
    "cn": ("mainland china", "中国大陆", "大陆"),
    "hk": ("hong kong", "香港"),
    "eu": ("the eu", "eu", "欧盟", "european union"),
}

TIME_LIMITED = TermMatcher(
    _words(
        "limited time, this week, this month, this weekend, today only, only today, until the end of, "
        "ends on, starts on, only until, for a limited, while stocks last, month only, week only, "
        "限时, 本周, 本月, 月底, 截止, 活动期间, 即日起, 今日起, 仅限今天, 这周, 这个月"
    )
)
DISCOUNT = TermMatcher(_words("% off, promo code, discount code, coupon code, 优惠码, 券码, 折扣码"))

STATE_RISK = TermMatcher(
    _words(
        "risk review, risk control, security review, account is restricted, account is frozen, account is "
        "locked, account is under, 风控, 账户异常, 账号异常, 账户受限, 账号受限, 冻结"
    )
)
ORDER_ID = re.compile(r"(?<![A-Za-z0-9])(?:[A-Z]{1,3}\d{8,}|\d{10,})(?![A-Za-z0-9])")
TICKET_ID = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,3}-\d{3,}(?![A-Za-z0-9])")
_STATUS_EN = (
    r"dispatched|shipped|delivered|in transit|on (?:its|the) way|being processed|processed|in progress|"
    r"escalated|resolved|closed|approved|rejected|issued|refunded|received|under (?:a )?(?:risk )?review|"
    r"flagged|frozen|restricted|blocked|on hold|signed for|waiting for|out for delivery|stuck"
)
STATUS_EN = re.compile(
    r"\b(?:your|this|that)\s+(?:order|parcel|package|ticket|account|refund|return|payment|delivery|"
    r"shipment)\b[^.?!;]{0,40}?\b(?:has been|have been|was|were|is|are|got|is now|is currently)\s+"
    rf"(?:\w+\s+){{0,2}}?(?:{_STATUS_EN})\b",
    re.IGNORECASE,
)
CHECKED_EN = re.compile(
    r"\b(?:i (?:checked|can see|see|looked)|the system shows|according to our system)\b", re.IGNORECASE
)
CONDITIONAL_EN = re.compile(r"\b(?:once|after|if|when|before|until|as soon as)\s+(?:your|the)\b", re.IGNORECASE)
STATUS_ZH = re.compile(
    r"(?:订单|包裹|工单|账户|账号|退款|快递)\s*[A-Z0-9-]*[^，。！？；]{0,8}?"
    r"(?:已经|已于|已|目前|正在|现在|还在|昨天|今天)[^，。！？；]{0,8}?"
    r"(?:发货|运输|签收|处理中|处理|升级|审核|风控|冻结|受限|到账|退回|派送|揽收|代收)(?!后)"
)
CHECKED_ZH = re.compile(r"帮您查|查了一下|系统显示|给您查|为您查询")

_SINGLE_CJK = re.compile(r"^[\u3400-\u9fff]$")
GENERIC = frozenset({"item", "product", "thing", "商品", "东西", "产品", "such", "example", "including"})


def stem(token: str) -> str:
    """A light English stemmer (returned → return, cards → card); CJK tokens unchanged."""
    if not token.isascii() or len(token) <= 4:
        return token
    for suffix in ("ing", "ed", "es", "s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 4:
            token = token[: -len(suffix)]
            break
    return token[:-1] if token.endswith("e") and len(token) > 4 else token


_ITEM_STOP = frozenset(_words("的, 已, 或, 和, 等, 如, 及, 了, 与, 其, 该, 此, 被, 在, 是, 有, 无, 不"))


@lru_cache(maxsize=1 << 16)
def item_tokens(text: str) -> frozenset[str]:
    """Like :func:`content_tokens` but single CJK characters are kept (礼品卡 → 礼品, 卡)."""
    out = set()
    for tok in tokenize(text):
        if tok.isdigit() or tok in _ITEM_STOP:
            continue
        out.add(stem(tok))
    return frozenset(out - GENERIC)


@lru_cache(maxsize=1 << 16)
def content_tokens(text: str) -> frozenset[str]:
    """Stemmed content words: no numbers, no single CJK characters, no generic nouns (cached)."""
    out = set()
    for tok in tokenize(text):
        if tok.isdigit() or _SINGLE_CJK.match(tok) or tok in GENERIC:
            continue
        out.add(stem(tok))
    return frozenset(out - GENERIC)
