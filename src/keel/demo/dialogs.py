"""Synthetic historical dialogs of the demo shop (docs/demo-shop.md) with plant labels.

Agents of several personas answer customers in Chinese and English; some dialogs carry planted
problems (inconsistent answers, hidden exceptions, soothing-only replies, volatile and
state-dependent content, disputed topics) and every dialog's label says which, in which turns,
and which route the audit should give it. The labels go to a sidecar file, never into the
dialogs the audit reads. The generator may use the fact sheet; the detectors may not.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from keel.audit.route import expected_route
from keel.audit.schema import FindingKind
from keel.domain import Frozen

# ---------------------------------------------------------------- facts (the fact sheet)
WINDOW = {"cn": 7, "hk": 10, "eu": 14}
WARRANTY_EN = {"cn": "1 year", "hk": "1 year", "eu": "2 years"}
WARRANTY_ZH = {"cn": "1年", "hk": "1年", "eu": "2年"}
PRODUCT_EN = {
    "kettle": "Aurora kettle",
    "fan": "Breeze desk fan",
    "earbuds": "Nimbus earbuds",
    "lamp": "Lumen desk lamp",
}
PRODUCT_ZH = {"kettle": "极光电水壶", "fan": "微风台扇", "earbuds": "云朵耳机", "lamp": "流明台灯"}


@dataclass(frozen=True)
class Persona:
    agent_id: str
    lang: str
    name: str
    warm: float  # chance of an empathy opener before the answer
    emoji: bool
    greet: str
    close: str


PERSONAS: tuple[Persona, ...] = (
    Persona("a01", "zh", "小林", 0.6, False, "您好，我是港湾优品客服小林，很高兴为您服务～", "不客气，祝您生活愉快！"),
    Persona("a02", "zh", "小周", 0.2, False, "您好，港湾优品客服小周为您服务。", "感谢您的咨询，再见。"),
    Persona("a03", "zh", "阿杰", 0.0, False, "在的，请说。", "好的。"),
    Persona("a04", "zh", "小美", 0.5, True, "亲，您好呀～我是小美😊", "不客气哦，有问题随时找小美～😊"),
    Persona("a05", "zh", "小陈", 0.3, False, "您好，我是客服小陈。", "好的，再见。"),
    Persona("a06", "zh", "小吴", 0.3, False, "您好，这里是港湾优品，请问有什么可以帮您？", "祝您购物愉快！"),
    Persona(
        "a11",
        "en",
        "Lily",
        0.6,
        False,
        "Hi, this is Lily from Harbor Goods, happy to help!",
        "You're welcome, have a lovely day!",
    ),
    Persona(
        "a12",
        "en",
        "Tom",
        0.2,
        False,
        "Good day, Tom from Harbor Goods customer service here.",
        "Thank you for contacting Harbor Goods. Goodbye.",
    ),
    Persona("a13", "en", "Sam", 0.0, False, "Hi. Sam here.", "Ok. Bye."),
    Persona("a14", "en", "Mia", 0.5, True, "Hey there! Mia here 😊", "Anytime! Take care 😊"),
    Persona("a15", "en", "Jack", 0.3, False, "Hello, Jack from Harbor Goods.", "Cheers, bye."),
    Persona("a16", "en", "Nora", 0.3, False, "Hello, this is Nora. How can I help?", "Have a nice day!"),
)
_BY_LANG = {lang: [p for p in PERSONAS if p.lang == lang] for lang in ("zh", "en")}
_EMPATHY_OPEN = {
    "zh": ["理解您的心情，", "别着急，", "亲，辛苦您久等了，", "非常理解，"],
    "en": ["I completely understand, ", "Thanks for your patience! ", "I'm sorry for the wait. ", "Good question! "],
}

# ---------------------------------------------------------------- topic catalogue
Text = Callable[[str], str]  # region → text


@dataclass(frozen=True)
class Topic:
    """A question customers ask, how agents answer it, and how a deviant agent answers it."""

    topic_id: str
    q: dict[str, tuple[str, ...]]
    a: dict[str, Text]
    regions: tuple[str, ...] = ("cn", "hk", "eu")
    deviant: dict[str, Text] | None = None  # a wrong number (planted inconsistency)
    deviants: tuple[str, ...] = ()  # agent ids that answer this topic with the deviant text
    grounded: bool = True  # the answer states facts from the KB


def _t(s: str) -> Text:
    return lambda r: s


TOPICS: tuple[Topic, ...] = (
    Topic(
        "refund-timing",
        {
            "zh": ("退款多久能到账？", "退货以后钱多久退回来？", "请问退款一般几天到账", "我退货了，退款什么时候到？"),
            "en": (
                "How long does a refund take?",
                "When will I get my money back after a return?",
                "How many days until the refund arrives?",
                "I sent my return back, when is the refund paid?",
            ),
        },
        {
            "zh": _t("仓库收到退货后3个工作日内发起退款，原路退回。支付宝、微信24小时内到账，银行卡1–5个工作日到账。"),
            "en": _t(
                "The refund is issued within 3 business days after the warehouse receives your return, to "
                "the original payment method. Alipay and WeChat Pay arrive within 24 hours, bank cards "
                "within 1–5 business days."
            ),
        },
        deviant={
            "zh": _t("仓库收到退货后7个工作日内退款，原路退回，请耐心等待。"),
            "en": _t(
                "Refunds are issued within 7 business days after we receive the item, back to "
                "your original payment method."
            ),
        },
        deviants=("a05", "a15"),
    ),
    Topic(
        "return-window",
        {
            "zh": ("签收后多少天内可以无理由退货？", "不想要了能退吗，有几天时间？", "无理由退货期限是多久"),
            "en": (
                "How many days do I have to return something?",
                "What is your return window?",
                "Can I still send it back if I just don't like it? How long do I have?",
            ),
        },
        {
            "zh": lambda r: f"签收后{WINDOW[r]}天内可以申请无理由退货，商品需未使用、配件齐全、保留原包装。",
            "en": lambda r: (
                f"You can return items without giving a reason within {WINDOW[r]} days after "
                "delivery, as long as they are unused, complete and in the original packaging."
            ),
        },
        deviant={
            "zh": _t("签收后15天内都可以无理由退货的，放心。"),
            "en": _t("You have 21 days after delivery to return anything without a reason."),
        },
        deviants=("a06", "a16"),
    ),
    Topic(
        "quality-window",
        {
            "zh": ("商品有质量问题，多久内可以退换？", "东西坏了能退吗，有期限吗？"),
            "en": (
                "How long do I have to return a faulty item?",
                "My item is defective, is there a time limit to get a refund or exchange?",
            ),
        },
        {
            "zh": _t("质量问题在签收后30天内可以申请退款或换货，来回运费由我们承担。"),
            "en": _t(
                "For a quality problem you can get a refund or exchange within 30 days of delivery, and "
                "we pay the return shipping."
            ),
        },
        deviant={
            "zh": _t("质量问题需要在签收后15天内申请退换，运费我们出。"),
            "en": _t("Faulty items can be refunded or exchanged within 60 days of delivery, we pay the shipping."),
        },
        deviants=("a03", "a13"),
    ),
    Topic(
        "warranty",
        {
            "zh": ("电子产品保修多久？", "耳机保修期是多长时间？", "台灯坏了还在保修期吗，保修几年"),
            "en": (
                "How long is the warranty on electronics?",
                "What's the warranty period for the earbuds?",
                "Is the lamp covered by a warranty, and for how long?",
            ),
        },
        {
            "zh": lambda r: f"电子产品保修{WARRANTY_ZH[r]}，维修需要7–10个工作日，请保留好订单号。",
            "en": lambda r: (
                f"Electronics come with a {WARRANTY_EN[r]} warranty. A repair takes 7–10 business "
                "days; please keep your order number."
            ),
        },
        deviant={
            "zh": _t("电子产品保修6个月，维修一般3–5个工作日。"),
            "en": _t("Electronics have a 6 months warranty, repairs take 3–5 business days."),
        },
        deviants=("a05", "a16"),
    ),
    Topic(
        "vat-invoice",
        {
            "zh": ("增值税专用发票多久能开出来？", "专票需要什么资料，几天能开？"),
            "en": (
                "How long does it take to get a special VAT invoice?",
                "What do you need for a VAT fapiao and how fast is it issued?",
            ),
        },
        {
            "zh": _t("专票需要提供公司名称、税号、开户行和地址，申请后5个工作日内开具。"),
            "en": _t(
                "We need the company name, tax ID, bank details and address; the special VAT invoice is "
                "issued within 5 business days of the request."
            ),
        },
        regions=("cn",),
        deviant={
            "zh": _t("专票提交资料后10个工作日内开具。"),
            "en": _t("The special VAT invoice takes 10 business days after you send the details."),
        },
        deviants=("a06", "a15"),
    ),
    Topic(
        "invoice-window",
        {
            "zh": ("发票最晚什么时候申请？", "过了很久还能开发票吗，期限是多少天？"),
            "en": ("Until when can I request an invoice?", "Is there a deadline to ask for a fapiao?"),
        },
        {
            "zh": _t("发票需要在签收后90天内申请，超过90天就无法受理了。"),
            "en": _t("Invoices must be requested within 90 days of delivery; later requests can't be accepted."),
        },
        regions=("cn",),
        deviant={
            "zh": _t("发票在签收后30天内申请就行。"),
            "en": _t("You can request the invoice within 180 days of delivery."),
        },
        deviants=("a03", "a16"),
    ),
    Topic(
        "ticket-response",
        {
            "zh": ("提交工单后多久有人回复？", "工单一般多久处理？"),
            "en": ("How soon will someone answer my ticket?", "When do you reply to support tickets?"),
        },
        {
            "zh": _t("工单会在24小时内首次回复，可以在 帮助 → 我的工单 查看进度。"),
            "en": _t("We send a first response within 24 hours; you can follow it under Help → My tickets."),
        },
        deviant={
            "zh": _t("工单一般48小时内回复，请耐心等待。"),
            "en": _t("Tickets get a first reply within 72 hours."),
        },
        deviants=("a04", "a15"),
    ),
    Topic(
        "plus-price",
        {
            "zh": ("港湾会员多少钱一年？", "会员费是多少，有什么权益？"),
            "en": ("How much does Harbor Plus cost?", "What is the price of the Plus membership?"),
        },
        {
            "zh": _t("港湾会员¥88/年，享标准配送包邮、免费退货运单和优先客服。"),
            "en": _t("Harbor Plus is ¥88 per year: free standard shipping, free return labels and priority support."),
        },
        deviant={
            "zh": _t("港湾会员¥68/年，包邮和免费退货都有。"),
            "en": _t("Harbor Plus costs ¥128 per year and includes free shipping and free returns."),
        },
        deviants=("a05", "a13"),
    ),
    Topic(
        "account-deletion",
        {
            "zh": ("怎么注销账号？", "注销账户要多久？"),
            "en": ("How do I delete my account?", "How long does account deletion take?"),
        },
        {
            "zh": _t("在 设置 → 隐私 → 注销账号 提交申请，有15天冷静期，期间可以撤回。"),
            "en": _t(
                "Go to Settings → Privacy → Delete account. There is a 15-day cooling-off period during "
                "which you can withdraw the request."
            ),
        },
        deviant={
            "zh": _t("设置 → 隐私 → 注销账号，提交后30天冷静期。"),
            "en": _t("Settings → Privacy → Delete account; the cooling-off period is 30 days."),
        },
        deviants=("a06", "a14"),
    ),
    Topic(
        "ticket-reopen",
        {
            "zh": ("已解决的工单还能重新打开吗？", "工单关了问题又出现了怎么办"),
            "en": ("Can I reopen a resolved ticket?", "My ticket was resolved but the issue is back, can I reopen it?"),
        },
        {
            "zh": _t("已解决的工单在解决后7天内可以重新打开；超过7天请新建工单并注明原工单号。"),
            "en": _t(
                "A resolved ticket can be reopened within 7 days of being resolved; after that please open "
                "a new ticket and mention the old number."
            ),
        },
    ),
    Topic(
        "how-to-return",
        {
            "zh": ("怎么申请退货？", "退货流程是什么？", "在哪里申请售后"),
            "en": (
                "How do I start a return?",
                "Where do I request a return?",
                "What's the process to send something back?",
            ),
        },
        {
            "zh": _t("打开 我的订单 → 对应订单 → 申请售后，选择原因提交，然后按提示寄回并保留快递单号。"),
            "en": _t(
                'Go to My Orders, open the order and tap "Return/Refund", choose a reason and submit, '
                "then send the item back and keep the tracking number."
            ),
        },
    ),
    Topic(
        "change-phone",
        {
            "zh": ("怎么换绑手机号？", "手机号换了怎么改？"),
            "en": ("How do I change my phone number?", "I have a new phone number, how do I update it?"),
        },
        {
            "zh": _t("在 设置 → 账号安全 里更换手机号，新旧号码都会收到验证码，都输入即可完成。"),
            "en": _t(
                "Go to Settings → Security and change the phone number; a verification code is sent to the "
                "old and the new number, enter both to finish."
            ),
        },
    ),
    Topic(
        "pair-earbuds",
        {
            "zh": ("云朵耳机怎么配对？", "耳机连不上蓝牙怎么办"),
            "en": ("How do I pair the Nimbus earbuds?", "My earbuds won't connect to Bluetooth, what do I do?"),
        },
        {
            "zh": _t("把耳机放进充电盒、打开盖子，长按盒子按键直到白灯闪烁，然后在手机蓝牙里选择 Nimbus。"),
            "en": _t(
                "Put both earbuds in the case with the lid open, hold the case button until the light "
                "flashes white, then pick Nimbus in your phone's Bluetooth list."
            ),
        },
    ),
    Topic(
        "payment-methods",
        {
            "zh": ("支持哪些支付方式？", "可以用银联付款吗"),
            "en": ("Which payment methods do you accept?", "Can I pay with a credit card?"),
        },
        {
            "zh": _t("支持支付宝、微信支付、银联和 Visa/Mastercard。"),
            "en": _t("We accept Alipay, WeChat Pay, UnionPay and Visa/Mastercard, and PayPal for EU orders."),
        },
    ),
    Topic(
        "human-agent",
        {
            "zh": ("能转人工吗？", "我要找真人客服"),
            "en": ("Can I talk to a real person?", "I want a human agent please."),
        },
        {
            "zh": _t("可以的，在聊天里说“转人工”就会为您转接人工客服，也可以在 帮助 → 我的工单 提交工单。"),
            "en": _t(
                'Sure, just say "human agent" in the chat and we will transfer you, or open a ticket '
                "under Help → My tickets."
            ),
        },
    ),
    Topic(
        "address-change",
        {
            "zh": ("下单后还能改地址吗？", "地址填错了能改吗"),
            "en": ("Can I change the delivery address after ordering?", "I typed the wrong address, can I fix it?"),
        },
        {
            "zh": _t("发货前可以免费修改地址或取消订单；发货后就不能改了，可以拒收或签收后退货。"),
            "en": _t(
                "Before dispatch you can change the address or cancel for free; after dispatch it can't be "
                "changed, but you can refuse the parcel or return it."
            ),
        },
    ),
)

# Topics the KB does not cover. ``camps`` split agents into two answers: a disputed topic.
GRAY: tuple[Topic, ...] = (
    Topic(
        "gift-wrap",
        {
            "zh": ("可以帮忙包装成礼物吗？", "有礼品包装服务吗"),
            "en": ("Do you offer gift wrapping?", "Can you gift-wrap my order?"),
        },
        {
            "zh": _t("可以的，下单时备注“礼品包装”就会免费帮您包好。"),
            "en": _t("Yes, we can gift-wrap it for free, just leave a note at checkout."),
        },
        deviant={
            "zh": _t("抱歉，我们暂时不提供礼品包装服务。"),
            "en": _t("Sorry, we don't offer gift wrapping at the moment."),
        },
        deviants=("a02", "a03", "a05", "a12", "a13", "a15"),
        grounded=False,
    ),
    Topic(
        "store-pickup",
        {
            "zh": ("可以到门店自提吗？", "你们有线下店可以自己去拿吗"),
            "en": ("Can I pick up my order in a store?", "Is in-store pickup available?"),
        },
        {"zh": _t("可以的，下单时选择门店自提就行。"), "en": _t("Yes, you can choose store pickup at checkout.")},
        deviant={
            "zh": _t("不可以哦，我们只做线上配送，没有自提。"),
            "en": _t("No, we are online only, so there is no pickup."),
        },
        deviants=("a01", "a04", "a06", "a11", "a14", "a16"),
        grounded=False,
    ),
    Topic(
        "price-match",
        {
            "zh": ("别家更便宜，你们能按别家的价格卖吗？", "可以比价吗，别的店便宜20块"),
            "en": (
                "Another shop sells it cheaper, will you match the price?",
                "Do you do price matching with other stores?",
            ),
        },
        {"zh": _t("不可以的，我们不跟其他平台比价。"), "en": _t("No, we don't match prices from other shops.")},
        deviant={
            "zh": _t("可以的，提供截图我们核实后帮您调整。"),
            "en": _t("Yes, send us a screenshot and we'll match it after checking."),
        },
        deviants=("a02", "a04", "a05", "a11", "a14", "a15"),
        grounded=False,
    ),
    Topic(
        "cart-hold",
        {
            "zh": ("加入购物车的商品会保留多久？", "购物车里的东西多久会失效"),
            "en": ("How long do items stay reserved in my cart?", "How long is stock held in the cart?"),
        },
        {"zh": _t("购物车商品会为您保留30分钟。"), "en": _t("Items in your cart are held for 30 minutes.")},
        deviant={"zh": _t("购物车商品会保留2小时。"), "en": _t("We hold cart items for 2 hours.")},
        deviants=("a01", "a03", "a06", "a12", "a13", "a16"),
        grounded=False,
    ),
    Topic(
        "bulk-discount",
        {
            "zh": ("买得多有优惠吗，公司要批量采购", "批量购买能便宜点吗"),
            "en": ("Is there a discount for bulk orders?", "We want to buy 50 lamps for the office, any bulk price?"),
        },
        {
            "zh": _t("可以的，批量采购请提供数量，我们为您申请企业价。"),
            "en": _t("Yes, tell us the quantity and we will apply for a business price for you."),
        },
        deviant={"zh": _t("不可以的，批量购买也是统一价格。"), "en": _t("No, the price is the same for bulk orders.")},
        deviants=("a01", "a02", "a04", "a11", "a12", "a14"),
        grounded=False,
    ),
)
AGREED_GRAY: tuple[Topic, ...] = (
    Topic(
        "catalogue",
        {
            "zh": ("有纸质产品目录吗？", "能寄一本产品手册给我吗"),
            "en": ("Do you have a printed catalogue?", "Can you mail me a product brochure?"),
        },
        {
            "zh": _t("我们没有纸质目录，所有商品都在官网和App上展示，欢迎随时浏览。"),
            "en": _t("We don't have a printed catalogue; every product is on our website and app."),
        },
        grounded=False,
    ),
    Topic(
        "thanks",
        {
            "zh": ("上次的问题解决了，谢谢你们！", "你们服务很好，点个赞"),
            "en": ("Just wanted to say thanks for the help last week!", "Great service, thank you!"),
        },
        {
            "zh": _t("收到您的认可太开心了，谢谢您的支持！"),
            "en": _t("That's so kind of you, thank you for shopping with us!"),
        },
        grounded=False,
    ),
)


# ---------------------------------------------------------------- plants
class Plant(Frozen):
    kind: FindingKind
    turns: tuple[int, ...]


class PlantLabel(Frozen):
    """The ground truth of one generated dialog."""

    id: str
    topic: str
    scenario: str
    findings: tuple[Plant, ...] = ()
    route: str
    lang: str
    region: str


_FILLER = {
    "zh": ["急！", "麻烦问下，", "请问一下，", "在不在，", "那个，"],
    "en": ["pls help, ", "urgent: ", "quick question - ", "hey, ", "sorry to bother, "],
}
_CLOSING = {
    "zh": ["还有什么可以帮您的吗？", "请问还有其他问题吗？", "祝您生活愉快~"],
    "en": ["Anything else I can help with?", "Is there anything else?", "Have a great day!"],
}


def _typo(rng: random.Random, text: str) -> str:
    """Swap two letters inside one longer English word (customers type fast)."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


@dataclass
class _Builder:
    persona: Persona
    lang: str
    region: str
    rng: random.Random
    noise: float = 0.0  # chance of fillers, typos and closing questions per turn
    turns: list[dict[str, Any]] = field(default_factory=list)
    plants: list[Plant] = field(default_factory=list)

    def customer(self, text: str) -> int:
        if self.noise and self.rng.random() < self.noise:
            text = self.rng.choice(_FILLER[self.lang]) + text
            if self.lang == "en" and self.rng.random() < 0.5:
                text = _typo(self.rng, text)
            if self.rng.random() < 0.3:
                text = text.rstrip("?？")
        self.turns.append({"role": "customer", "text": text})
        return len(self.turns) - 1

    def agent(self, text: str) -> int:
        if self.noise and self.rng.random() < self.noise / 2:
            text += (" " if self.lang == "en" else "") + self.rng.choice(_CLOSING[self.lang])
        if self.persona.emoji and self.rng.random() < 0.5 and not text.endswith("😊"):
            text += " 😊"
        self.turns.append({"role": "agent", "text": text, "agent": self.persona.agent_id})
        return len(self.turns) - 1

    def plant(self, kind: FindingKind, *turns: int) -> None:
        self.plants.append(Plant(kind=kind, turns=tuple(turns)))

    def answer(self, text: str) -> int:
        """An agent answer, maybe with the persona's empathy opener (resolution stays in it)."""
        if self.rng.random() < self.persona.warm:
            text = self.rng.choice(_EMPATHY_OPEN[self.lang]) + text
        return self.agent(text)


def _pick(rng: random.Random, options: tuple[str, ...] | list[str]) -> str:
    return options[rng.randrange(len(options))]


def _order_no(rng: random.Random, day: date) -> str:
    return f"H{day:%Y%m%d}{rng.randrange(10, 99)}"


def _ask(b: _Builder, topic: Topic) -> str:
    q = _pick(b.rng, topic.q[b.lang])
    prefix = _pick(b.rng, ("", "", "你好，", "请问", "在吗？") if b.lang == "zh" else ("", "", "Hi, ", "Hello, "))
    return prefix + q


# Each scenario fills the main exchange and returns (topic id, scenario name, grounded).
def _scn_topic(b: _Builder, day: date) -> tuple[str, str, bool]:
    topic = _pick_topic(b)
    b.customer(_ask(b, topic))
    deviant = topic.deviant is not None and b.persona.agent_id in topic.deviants
    text = (topic.deviant if deviant and topic.deviant else topic.a)[b.lang](b.region)
    turn = b.answer(text)
    if deviant and topic.grounded:
        b.plant(FindingKind.INCONSISTENT, turn)
        return topic.topic_id, "deviant-answer", True
    return topic.topic_id, "answer", topic.grounded


def _pick_topic(b: _Builder) -> Topic:
    fitting = [t for t in TOPICS if b.region in t.regions]
    return fitting[b.rng.randrange(len(fitting))]


def _scn_gray(b: _Builder, day: date) -> tuple[str, str, bool]:
    topic: Topic = b.rng.choice(GRAY)
    b.customer(_ask(b, topic))
    camp_b = b.persona.agent_id in topic.deviants
    turn = b.answer((topic.deviant if camp_b and topic.deviant else topic.a)[b.lang](b.region))
    b.plant(FindingKind.DISPUTED, turn)
    return topic.topic_id, "disputed", False


def _scn_agreed_gray(b: _Builder, day: date) -> tuple[str, str, bool]:
    topic: Topic = b.rng.choice(AGREED_GRAY)
    b.customer(_ask(b, topic))
    b.answer(topic.a[b.lang](b.region))
    return topic.topic_id, "gray-agreed", False


_UPSET = {
    "zh": [
        "我的退款到现在还没到账！都一个星期了",
        "快递一直不动，到底什么时候能到？",
        "耳机用了两天就有杂音，太失望了",
        "客服一直不回复我的工单，什么情况？",
        "水壶漏水了，我很生气",
    ],
    "en": [
        "My refund still hasn't arrived, it's been a week!",
        "My parcel hasn't moved for days, when will it arrive?",
        "The earbuds crackle after two days, I'm really disappointed.",
        "Nobody answers my ticket, what is going on?",
        "The kettle is leaking, I'm so annoyed.",
    ],
}
_SOOTHE_ONLY = {
    "zh": [
        "非常抱歉给您带来不好的体验，我们非常理解您的心情。",
        "亲，真的很抱歉让您久等了，请您消消气，我们非常重视您的反馈。",
        "实在不好意思，给您添麻烦了，请您放心，我们一直都在的。",
        "理解您的着急，真的非常抱歉，感谢您的耐心和理解。",
    ],
    "en": [
        "I'm so sorry to hear that, I completely understand how frustrating this must be.",
        "I really apologize for the inconvenience, we truly value your patience and feedback.",
        "Oh no, I'm very sorry about this! Please rest assured we care about your experience.",
        "I totally understand your frustration and I'm sincerely sorry. Thank you for bearing with us.",
    ],
}
# the resolution that fits each complaint above, in the same order
_SOOTHE_RESOLVE = {
    "zh": [
        "非常抱歉让您久等了。仓库收到退货后3个工作日内退款，我帮您提交了加急，请在 我的订单 里留意进度。",
        "理解您的着急，我已经为您转接人工专员，他会在24小时内联系您。",
        "真的很抱歉给您带来不便。质量问题在签收后30天内可以退换，运费由我们承担，请在 我的订单 → 申请售后 提交。",
        "非常抱歉，工单会在24小时内首次回复，我已经帮您把工单升级加急了。",
        "真的很抱歉。质量问题在签收后30天内可以退款或换货，运费我们承担，请在 我的订单 → 申请售后 提交照片。",
    ],
    "en": [
        "I'm sorry for the wait. Refunds are issued within 3 business days after the warehouse gets the "
        "return; I've flagged yours, please watch My Orders.",
        "I understand your frustration. I've transferred you to a specialist who will contact you within 24 hours.",
        "I'm really sorry about that. Quality problems can be refunded or exchanged within 30 days of "
        "delivery and we pay the shipping: My Orders → Return/Refund.",
        "I'm sorry about that. We send a first response within 24 hours and I've escalated your ticket.",
        "I'm so sorry. Quality problems can be refunded or exchanged within 30 days of delivery and we pay "
        "the shipping: My Orders → Return/Refund, photos help.",
    ],
}


def _scn_upset(b: _Builder, day: date, soothing_only: bool) -> tuple[str, str, bool]:
    which = b.rng.randrange(len(_UPSET[b.lang]))
    b.customer(_UPSET[b.lang][which])
    if soothing_only:
        t1 = b.agent(_pick(b.rng, _SOOTHE_ONLY[b.lang]))
        turns = [t1]
        if b.rng.random() < 0.4:
            b.customer("那到底怎么办？" if b.lang == "zh" else "So what happens now?")
            turns.append(b.agent(_pick(b.rng, _SOOTHE_ONLY[b.lang])))
        b.plant(FindingKind.SOOTHING_ONLY, *turns)
        return "complaint", "soothing-only", False
    b.agent(_SOOTHE_RESOLVE[b.lang][which])
    return "complaint", "soothe-and-resolve", which != 1  # a handoff states no KB fact


def _volatile(b: _Builder, day: date) -> tuple[str, str]:
    r, zh = b.region, b.lang == "zh"
    choice = b.rng.randrange(5)
    if choice == 0 and r == "eu":
        q = "现在有折扣吗？" if zh else "Is there any discount right now?"
        a = (
            "黑五活动进行中，11月30日前全场85折，下单用优惠码BF15。"
            if zh
            else "Yes! Black Friday runs until 30 November: 15% off everything with code BF15."
        )
        return q, a
    if choice <= 1 and r in ("cn", "hk"):
        q = "最近有什么活动吗？" if zh else "Any sales coming up?"
        a = (
            "12月1日起冬季大促，小家电8折，用券码WINTER20，最多减¥100。"
            if zh
            else "The Winter Sale starts on 1 December: 20% off small appliances with code WINTER20, up to ¥100 off."
        )
        return q, a
    if choice == 2 and r == "cn":
        q = "现在多少钱包邮？" if zh else "What's the free shipping threshold now?"
        a = (
            "从11月15日起，标准配送满¥79就包邮了。"
            if zh
            else "Since 15 November, standard shipping is free on orders over ¥79."
        )
        return q, a
    if choice == 3:
        q = "退货寄回去了，什么时候处理？" if zh else "I sent my return, when will it be processed?"
        a = (
            "本周仓库盘点，12月3日之前收到的退货会在盘点结束后统一处理。"
            if zh
            else "Our warehouse is closed for stock-taking until 3 December, so returns are processed after that."
        )
        return q, a
    q = "顺丰能免费升级吗？" if zh else "Can I get SF Express for free?"
    a = (
        "本月限时活动：订单满¥199可以免费升级顺丰，月底截止。"
        if zh
        else "Limited time offer this month only: free SF Express upgrade on orders over ¥199."
    )
    return q, a


def _scn_volatile(b: _Builder, day: date) -> tuple[str, str, bool]:
    q, a = _volatile(b, day)
    b.customer(q)
    b.plant(FindingKind.VOLATILE, b.agent(a))
    return "promotion", "volatile", False


def _scn_volatile_distractor(b: _Builder, day: date) -> tuple[str, str, bool]:
    zh = b.lang == "zh"
    b.customer("双11还有优惠吗？" if zh else "Is there a Black Friday deal?")
    b.answer(
        "当前活动以首页公告为准，您可以在首页“活动”栏查看。"
        if zh
        else "Current promotions are always listed on our homepage under Offers, please have a look there."
    )
    return "promotion", "promo-no-facts", False


def _scn_state(b: _Builder, day: date) -> tuple[str, str, bool]:
    zh, rng = b.lang == "zh", b.rng
    order = _order_no(rng, day - timedelta(days=rng.randrange(2, 9)))
    ticket = f"T-{rng.randrange(5000, 5999)}"
    kind = rng.randrange(4)
    if kind == 0:
        b.customer(f"我的订单{order}到哪了？" if zh else f"Where is my order {order}?")
        a = (
            f"帮您查了一下，订单{order}已经发货，目前在运输途中，预计两天内送达。"
            if zh
            else f"I checked: order {order} has been dispatched and is in transit, it should arrive within two days."
        )
    elif kind == 1:
        b.customer(f"我的工单{ticket}怎么样了？" if zh else f"Any news on my ticket {ticket}?")
        a = (
            f"您的工单{ticket}目前处理中，已经升级给专员跟进。"
            if zh
            else f"Your ticket {ticket} is in progress and has been escalated to a specialist."
        )
    elif kind == 2:
        b.customer("为什么我的退款一直没处理？" if zh else "Why hasn't my refund been processed?")
        a = (
            "您的账户目前处于风控审核中，审核通过前退款暂时无法处理。"
            if zh
            else "Your account is currently under a risk review, so refunds are on hold until it is cleared."
        )
    else:
        b.customer("我的包裹签收了吗？" if zh else "Has my parcel been delivered?")
        a = (
            "系统显示您的包裹昨天已签收，是家人代收的。"
            if zh
            else "I can see your parcel was delivered yesterday and signed for by a family member."
        )
    b.plant(FindingKind.STATE_DEPENDENT, b.answer(a))
    return "order-status", "state", False


def _scn_state_distractor(b: _Builder, day: date) -> tuple[str, str, bool]:
    zh = b.lang == "zh"
    b.customer("怎么查物流？" if zh else "How can I track my parcel?")
    b.answer(
        "您可以在 我的订单 里查看物流进度；订单发货后地址就不能修改了。"
        if zh
        else "You can follow the tracking in My Orders. Once your order has been dispatched, the address "
        "can't be changed."
    )
    return "tracking", "state-no-facts", True


def _exception(b: _Builder, day: date, hidden: bool) -> tuple[str, str, bool]:  # noqa: PLR0915
    """A customer asks for something the policy forbids; the agent grants it (hidden=True) or not."""
    rng, zh, r = b.rng, b.lang == "zh", b.region
    item = rng.choice(["kettle", "fan", "lamp"])
    pn = PRODUCT_ZH[item] if zh else PRODUCT_EN[item]
    case = rng.choice([0, 1, 2, 3, 4, 5, 6] if r == "cn" else [0, 1, 2, 4])
    loud = rng.random() < 0.5  # the agent says it is an exception
    if case == 0:  # no-reason return out of window
        days = WINDOW[r] + rng.randrange(2, 12)
        b.customer(
            f"{pn}签收{days}天了，不太喜欢，还能无理由退吗？"
            if zh
            else f"I got the {pn} {days} days ago and don't like it, can I still return it?"
        )
        yes_zh = ["这次给您特殊处理，破例帮您办理退货，请寄回吧。", "可以的，已经帮您提交了退货申请，寄回就行。"]
        yes_en = [
            "I'll make an exception this time and approve the return, please send it back.",
            "No problem, I've opened the return for you, just send it back.",
        ]
        no = (
            f"抱歉，无理由退货需要在签收后{WINDOW[r]}天内申请，已经超过期限了；如果有质量问题可以申请售后。"
            if zh
            else f"Sorry, no-reason returns must be requested within {WINDOW[r]} days of delivery, so this one is "
            "outside the window; if there is a quality problem we can help with that."
        )
        topic = "return-window"
    elif case == 1:  # opened earbuds
        pn = PRODUCT_ZH["earbuds"] if zh else PRODUCT_EN["earbuds"]
        b.customer(
            f"{pn}已经拆封用过了，音质不喜欢，可以退吗？"
            if zh
            else f"I opened the {pn} and used them, but I don't like the sound. Can I return them?"
        )
        yes_zh = ["这次破例给您退，您直接寄回就好。", "好的，给您办理退货退款，寄回来就行。"]
        yes_en = [
            "Just this once I'll accept the return, please send them back.",
            "Sure, I've set up the return and refund for you, send them back.",
        ]
        no = (
            "抱歉，已拆封的耳机出于卫生原因不支持无理由退货；如有质量问题可以在30天内申请退换。"
            if zh
            else "Sorry, opened earbuds can't be returned without a quality problem, for hygiene reasons."
        )
        topic = "return-exclusions"
    elif case == 2:  # gift card / engraved board
        gift = rng.random() < 0.5
        thing = ("礼品卡" if gift else "刻字砧板") if zh else ("gift card" if gift else "engraved cutting board")
        b.customer(f"我买的{thing}不想要了，能退吗？" if zh else f"I don't want the {thing} I bought, can I return it?")
        yes_zh = ["特殊情况，这次给您特批退款。", "可以退的，我帮您申请退款。"]
        yes_en = ["I'll get you a special approval for a refund this time.", "Yes, I'll refund it for you."]
        no = (
            f"抱歉，{thing}没有质量问题的话不支持退货。"
            if zh
            else f"Sorry, a {thing} can't be returned unless there is a quality problem."
        )
        topic = "return-exclusions"
    elif case == 3:  # extra compensation for a late parcel
        b.customer("包裹比承诺时间晚了5天还没到！" if zh else "My parcel is 5 days late and still not here!")
        amount = rng.choice([30, 50, 20])
        yes_zh = [f"非常抱歉，额外给您补偿一张¥{amount}的优惠券，已经发到账户了。", f"给您补偿¥{amount}，马上发放。"]
        yes_en = [
            f"So sorry, as an exception I'll compensate you with a ¥{amount} voucher on top.",
            f"I'll add a ¥{amount} voucher to your account to make up for it.",
        ]
        no = (
            "非常抱歉，超过承诺送达日期3天以上系统会自动发放一张¥10优惠券，我也帮您催一下物流。"
            if zh
            else "I'm sorry. When a parcel is more than 3 days late a ¥10 coupon is issued automatically (mainland "
            "China orders); I've also chased the courier."
        )
        topic = "late-delivery-coupon"
    elif case == 4:  # quality problem after 30 days: refund instead of warranty repair
        days = rng.randrange(40, 80)
        b.customer(f"{pn}用了{days}天坏了，要求退款。" if zh else f"The {pn} broke after {days} days, I want a refund.")
        yes_zh = ["这次给您破例直接退款，不用走保修了。", "好的，给您全额退款，寄回来就行。"]
        yes_en = [
            "I'll make an exception and refund it instead of a repair.",
            "OK, I'll give you a full refund, just send it back.",
        ]
        no = (
            "质量问题退换需要在签收后30天内，超过之后可以享受保修维修，维修需要7–10个工作日。"
            if zh
            else "Refunds for quality problems are within 30 days of delivery; after that it's a warranty repair, "
            "which takes 7–10 business days."
        )
        topic = "quality-window"
    elif case == 5:  # invoice reissued a second time
        b.customer(
            "发票抬头又开错了，之前已经重开过一次，能再重开吗？"
            if zh
            else "The invoice title is wrong again, it was already reissued once. Can you reissue it again?"
        )
        yes_zh = ["这次给您特殊处理，再帮您重开一次。", "好的，再给您重开一张。"]
        yes_en = ["As an exception I'll reissue it one more time.", "Sure, I'll reissue it again for you."]
        no = (
            "抱歉，发票只能重开一次，已经重开过的无法再次重开。"
            if zh
            else "Sorry, an invoice can be reissued only once, so it can't be reissued again."
        )
        topic = "invoice-reissue"
    else:  # price protection on a flash-sale item
        b.customer(
            f"我秒杀买的{pn}降价了，能退差价吗？"
            if zh
            else f"I bought the {pn} in a flash sale and the price dropped, can I get the difference?"
        )
        yes_zh = ["这次破例给您退差价。", "可以的，差价给您退回。"]
        yes_en = ["I'll make an exception and refund the difference.", "Yes, I'll refund the difference."]
        no = "抱歉，秒杀商品不参加价保。" if zh else "Sorry, flash-sale items are not covered by price protection."
        topic = "price-protection"
    if hidden:
        options = yes_zh if zh else yes_en
        text = options[0] if loud else options[1]
        b.plant(FindingKind.HIDDEN_EXCEPTION, b.agent(text))
        return topic, "exception-granted", True
    b.answer(no)
    return topic, "exception-refused", True


def _legit_grant(b: _Builder, day: date) -> tuple[str, str, bool]:
    rng, zh, r = b.rng, b.lang == "zh", b.region
    item = rng.choice(["kettle", "fan", "lamp"])
    pn = PRODUCT_ZH[item] if zh else PRODUCT_EN[item]
    case = rng.randrange(4)
    if case == 0:
        days = rng.randrange(1, WINDOW[r])
        b.customer(
            f"{pn}签收{days}天了，不想要了，能退吗？"
            if zh
            else f"I got the {pn} {days} days ago and don't want it, can I return it?"
        )
        b.answer(
            "可以的，还在无理由退货期内，已经帮您提交退货申请，寄回即可。"
            if zh
            else "Yes, you're within the no-reason return window; I've opened the return, just send it back."
        )
    elif case == 1:
        days = rng.randrange(3, 25)
        b.customer(
            f"{pn}用了{days}天就坏了，能退吗？" if zh else f"The {pn} broke after {days} days, can I get a refund?"
        )
        b.answer(
            "质量问题在30天内可以退款，运费我们承担，已经帮您提交退款申请。"
            if zh
            else "Yes, quality problems within 30 days of delivery can be refunded and we pay the shipping; "
            "I've submitted the refund for you."
        )
    elif case == 2:
        pn = PRODUCT_ZH["earbuds"] if zh else PRODUCT_EN["earbuds"]
        b.customer(f"{pn}还没拆封，可以退吗？" if zh else f"The {pn} are still sealed and unopened, can I return them?")
        b.answer(
            "未拆封的耳机可以无理由退货，我帮您办理退货。"
            if zh
            else "Unopened earbuds can be returned without a reason, I'll set up the return for you."
        )
    else:
        b.customer("包裹晚了4天，有补偿吗？" if zh else "My parcel was 4 days late, do I get anything?")
        b.answer(
            "超过承诺送达日期3天以上，系统会自动给您发一张¥10优惠券。"
            if zh
            else "Yes, when a parcel is more than 3 days late a ¥10 coupon is issued to your account automatically."
        )
    return "returns", "legit-grant", True


# scenario name → (weight, function)
_SCENARIOS: tuple[tuple[str, float, Callable[..., tuple[str, str, bool]]], ...] = (
    ("topic", 0.40, _scn_topic),
    ("gray", 0.06, _scn_gray),
    ("agreed-gray", 0.04, _scn_agreed_gray),
    ("soothing-only", 0.06, lambda b, d: _scn_upset(b, d, True)),
    ("soothe-resolve", 0.05, lambda b, d: _scn_upset(b, d, False)),
    ("volatile", 0.07, _scn_volatile),
    ("volatile-distractor", 0.03, _scn_volatile_distractor),
    ("state", 0.08, _scn_state),
    ("state-distractor", 0.03, _scn_state_distractor),
    ("exception", 0.07, lambda b, d: _exception(b, d, True)),
    ("exception-refused", 0.05, lambda b, d: _exception(b, d, False)),
    ("legit-grant", 0.06, _legit_grant),
)


def _region_for(rng: random.Random, lang: str) -> str:
    if lang == "zh":
        return "cn" if rng.random() < 0.75 else "hk"
    x = rng.random()
    return "eu" if x < 0.7 else ("hk" if x < 0.85 else "cn")


def generate_dialog(rng: random.Random, index: int, noise: float = 0.0) -> tuple[dict[str, Any], PlantLabel]:
    """One dialog (Keel JSONL schema) and its label; *noise* adds fillers, typos, closing questions."""
    lang = "zh" if rng.random() < 0.55 else "en"
    region = _region_for(rng, lang)
    persona = rng.choice(_BY_LANG[lang])
    day = date(2026, 9, 1) + timedelta(days=rng.randrange(0, 84))
    b = _Builder(persona=persona, lang=lang, region=region, rng=rng, noise=noise)
    if rng.random() < 0.6:
        b.customer(_pick(rng, ("你好", "在吗", "您好") if lang == "zh" else ("Hi", "Hello", "Hi there")))
        b.agent(persona.greet)
    names = [s[0] for s in _SCENARIOS]
    weights = [s[1] for s in _SCENARIOS]
    name = rng.choices(names, weights)[0]
    topic, scenario, grounded = dict((s[0], s[2]) for s in _SCENARIOS)[name](b, day)
    if rng.random() < 0.12:  # a second, clean question in the same dialog
        _, _, g2 = _scn_topic(b, day)
        grounded = grounded or g2
    if rng.random() < 0.7:
        b.customer(
            _pick(
                rng,
                ("好的谢谢", "明白了，谢谢", "好") if lang == "zh" else ("Ok thanks", "Got it, thank you", "Thanks"),
            )
        )
        b.agent(persona.close)
    did = f"g{index:07d}"
    record: dict[str, Any] = {
        "id": did,
        "lang": lang,
        "agent": persona.agent_id,
        "date": day.isoformat(),
        "channel": "chat",
        "turns": b.turns,
    }
    if rng.random() < 0.92:
        record["region"] = region
    kinds = {p.kind for p in b.plants}
    label = PlantLabel(
        id=did,
        topic=topic,
        scenario=scenario,
        findings=tuple(b.plants),
        route=expected_route(kinds, grounded).value,
        lang=lang,
        region=region,
    )
    return record, label


def iter_generated(n: int, seed: int, noise: float = 0.0) -> Iterator[tuple[dict[str, Any], PlantLabel]]:
    rng = random.Random(seed)
    for i in range(n):
        yield generate_dialog(rng, i, noise)


class GeneratedSet(Frozen):
    dialogs_path: str
    labels_path: str
    dialogs: int
    turns: int
    planted: dict[str, int]


def labels_path_for(dialogs_path: Path) -> Path:
    return dialogs_path.with_name(dialogs_path.stem + ".labels.jsonl")


def write_generated(out: Path, n: int, seed: int, noise: float = 0.0) -> GeneratedSet:
    """Write *n* dialogs to *out* (JSONL) and their labels to ``<out stem>.labels.jsonl``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    labels = labels_path_for(out)
    turns = 0
    planted: dict[str, int] = {k.value: 0 for k in FindingKind}
    with out.open("w", encoding="utf-8") as fd, labels.open("w", encoding="utf-8") as fl:
        for record, label in iter_generated(n, seed, noise):
            turns += len(record["turns"])
            for kind in {p.kind for p in label.findings}:
                planted[kind.value] += 1
            fd.write(json.dumps(record, ensure_ascii=False) + "\n")
            fl.write(label.model_dump_json() + "\n")
    return GeneratedSet(dialogs_path=str(out), labels_path=str(labels), dialogs=n, turns=turns, planted=planted)
