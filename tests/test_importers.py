"""Importers: a policy split by headings, an FAQ table, customers + orders; every input is built here."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli.main import app
from keel.domain import Lang
from keel.errors import InvalidInput
from keel.importers.customers import import_customers, load_field_map
from keel.importers.faq import FaqOptions, import_faq
from keel.importers.kbfiles import slug
from keel.importers.policy import PolicyOptions, import_policy
from keel.online.kb.documents import load_folder
from keel.online.state.model import UserState
from keel.online.state.providers import JsonStateProvider

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
runner = CliRunner()

POLICY_MD = """\
## Returns window

Unused items can be returned within 7 days of delivery.

### Exceptions

Gift cards cannot be returned.

```
## not a heading: inside a code block
```

## 退款时间

仓库收到退货后3个工作日内发起退款，原路退回。

## Exchanges

An exchange is free for a different size or colour.
"""

POLICY_HTML = """\
<!doctype html>
<html><head><title>Harbor delivery policy</title><style>h2 { color: red }</style></head>
<body>
<nav><ul><li><a href="/">Home</a><li>Shop</ul></nav>
<h1>Delivery policy</h1>
<h2>Delivery times</h2>
<p>Mainland China: <b>2-4</b> working days.</p>
<ul><li>Hong Kong: 3-5 days</li><li>EU: 5-10 days</li></ul>
<h2>配送费用</h2>
<p>满99元包邮。</p>
<table><tr><th>Region</th><th>Fee</th></tr><tr><td>CN</td><td>8 CNY</td></tr></table>
<script>var tracking = "do not import me";</script>
</body></html>
"""


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def no_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- policy


def test_markdown_policy_splits_into_documents_the_kb_parser_reads(tmp_path):
    src = tmp_path / "returns-policy.md"
    src.write_text(POLICY_MD, encoding="utf-8")
    out = tmp_path / "kb"
    report = import_policy(src, out, PolicyOptions(regions=("cn", "hk")))

    assert report.written and len(report.documents) == 3
    docs = {d.title: d for d in load_folder(out)}  # Keel's own parser
    assert set(docs) == {"Returns window", "退款时间", "Exchanges"}
    assert [p.name for p in sorted(out.iterdir())] == sorted(d.file for d in report.documents)
    zh = docs["退款时间"]
    assert zh.lang is Lang.ZH and docs["Exchanges"].lang is Lang.EN
    assert ID.match(zh.doc_id) and zh.doc_id.isascii() and zh.doc_id.endswith("-zh")
    assert zh.doc_id.startswith("returns-policy-") and zh.topic == zh.doc_id.removesuffix("-zh")
    returns = docs["Returns window"]
    assert returns.doc_id == "returns-policy-returns-window-en"
    assert "### Exceptions" in returns.body and "not a heading" in returns.body  # deeper headings, fences stay
    assert returns.regions == ("cn", "hk") and returns.kind.value == "policy"
    assert not no_leftovers(tmp_path)


def test_chinese_slugs_are_stable_and_distinct():
    assert slug("退款时间") == slug("退款时间")
    assert slug("退款时间") != slug("退货时间")
    assert slug("第3条 退货").startswith("3-")
    assert slug("Returns & refunds!") == "returns-refunds"


def test_html_policy(tmp_path):
    src = tmp_path / "delivery.html"
    src.write_text(POLICY_HTML, encoding="utf-8")
    report = import_policy(src, tmp_path / "kb", PolicyOptions(prefix="delivery", level=2))
    docs = {d.title: d for d in load_folder(tmp_path / "kb")}
    assert set(docs) == {"Delivery times", "配送费用"}
    times = docs["Delivery times"].body
    assert "2-4 working days" in times and "- Hong Kong: 3-5 days" in times and "- EU: 5-10 days" in times
    fees = docs["配送费用"]
    assert fees.lang is Lang.ZH and "CN | 8 CNY" in fees.body
    everything = " ".join(d.body for d in docs.values())
    assert "do not import me" not in everything and "Home" not in everything and "color" not in everything
    assert all(d.doc_id.startswith("delivery-") for d in report.documents)


def test_policy_dry_run_writes_nothing(tmp_path):
    src = tmp_path / "returns-policy.md"
    src.write_text(POLICY_MD, encoding="utf-8")
    report = import_policy(src, tmp_path / "kb", PolicyOptions(), dry_run=True)
    assert not report.written
    assert [(d.title, d.chars > 0) for d in report.documents] == [
        ("Returns window", True),
        ("退款时间", True),
        ("Exchanges", True),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["returns-policy.md"]


def test_policy_errors_and_no_silent_overwrite(tmp_path):
    src = tmp_path / "p.md"
    src.write_text(POLICY_MD, encoding="utf-8")
    with pytest.raises(InvalidInput, match="no level-4 headings"):
        import_policy(src, tmp_path / "kb", PolicyOptions(level=4))
    import_policy(src, tmp_path / "kb", PolicyOptions())
    with pytest.raises(InvalidInput, match="--overwrite"):
        import_policy(src, tmp_path / "kb", PolicyOptions())
    import_policy(src, tmp_path / "kb", PolicyOptions(), overwrite=True)
    assert len(load_folder(tmp_path / "kb")) == 3
    with pytest.raises(InvalidInput, match="unsupported policy file"):
        import_policy(tmp_path / "p.pdf", tmp_path / "kb", PolicyOptions())


def test_text_under_a_parent_heading_is_kept(tmp_path):
    src = tmp_path / "gift.md"
    src.write_text("# Gift cards\n\nValid for 3 years.\n\n## Top up\n\nIn the app.\n\n## Refunds\n\nNever refunded.\n")
    report = import_policy(src, tmp_path / "kb", PolicyOptions(prefix=""))
    assert [d.title for d in report.documents] == ["Gift cards", "Top up", "Refunds"]
    assert report.documents[1].doc_id == "top-up-en"


# ---------------------------------------------------------------- FAQ

FAQ_ROWS = [
    ["question", "answer", "region", "tags", "owner"],
    ["How long does delivery take?", "Mainland China: 2-4 working days.", "cn", "shipping, delivery", "li"],
    ["可以开电子发票吗？", "可以，在订单详情页申请电子发票。", "", "发票", ""],
    ["Can I pay in instalments?\nDo you offer instalments?", "Yes: 3 or 6 months at checkout.", "", "", ""],
]


def test_faq_csv_one_document_per_row(tmp_path):
    report = import_faq(write_csv(tmp_path / "faq.csv", FAQ_ROWS), tmp_path / "kb", FaqOptions())
    docs = {d.doc_id: d for d in load_folder(tmp_path / "kb")}
    assert len(docs) == 3 and [d.origin for d in report.documents] == ["row 2", "row 3", "row 4"]
    delivery = docs["faq-how-long-does-delivery-take-en"]
    assert delivery.title == "How long does delivery take?"
    assert delivery.questions == ("How long does delivery take?",)
    assert delivery.regions == ("cn",) and delivery.tags == ("shipping", "delivery") and delivery.kind.value == "faq"
    invoice = next(d for d in docs.values() if d.lang is Lang.ZH)
    assert invoice.title == "可以开电子发票吗？" and invoice.regions == ("all",) and invoice.tags == ("发票",)
    instalments = docs["faq-can-i-pay-in-instalments-en"]
    assert instalments.questions == ("Can I pay in instalments?", "Do you offer instalments?")
    assert any("'owner'" in w for w in report.warnings)  # an unknown column is said, not dropped silently


def test_faq_missing_answer_names_the_row_and_writes_nothing(tmp_path):
    rows = [*FAQ_ROWS[:2], ["What is Harbor Plus?", "  ", "", "", ""], *FAQ_ROWS[2:]]
    src = write_csv(tmp_path / "faq.csv", rows)
    with pytest.raises(InvalidInput, match=r"row 3: empty answer.*nothing was written"):
        import_faq(src, tmp_path / "kb", FaqOptions())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faq.csv"]


def test_faq_missing_column_and_bad_cells(tmp_path):
    with pytest.raises(InvalidInput, match=r"missing column\(s\) answer"):
        import_faq(write_csv(tmp_path / "a.csv", [["question", "reply"], ["q", "a"]]), tmp_path / "kb", FaqOptions())
    bad = [["问题", "答案", "valid_from", "region"], ["q1", "a1", "2026-13-01", ""], ["q2", "a2", "", "mars!"]]
    with pytest.raises(InvalidInput) as exc:
        import_faq(write_csv(tmp_path / "b.csv", bad), tmp_path / "kb", FaqOptions())
    assert "row 2: valid_from:" in exc.value.message and "row 3: field 'region'" in exc.value.message
    assert not (tmp_path / "kb").exists()


def test_faq_xlsx(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    for row in FAQ_ROWS:
        sheet.append(row)
    book.save(tmp_path / "faq.xlsx")
    report = import_faq(tmp_path / "faq.xlsx", tmp_path / "kb", FaqOptions(prefix="help"))
    assert len(load_folder(tmp_path / "kb")) == 3 and report.documents[0].doc_id.startswith("help-")


def test_faq_xlsx_without_openpyxl_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now raises ImportError
    (tmp_path / "faq.xlsx").write_bytes(b"PK")
    with pytest.raises(InvalidInput, match="openpyxl"):
        import_faq(tmp_path / "faq.xlsx", tmp_path / "kb", FaqOptions())


# ---------------------------------------------------------------- customers

CUSTOMERS = [
    ["CustNo", "Full name", "Language", "Market", "Mobile", "Complaints", "Segment", "内部备注", "Legacy code"],
    ["C-1001", "李伟", "中文", "CN", "+86 138 0000 1001", "0", "retail", "老客户", "X1"],
    ["C-1002", "Emma Schmidt", "en-GB", "EU", "+49 151 0000 1002", "2", "b2b", "", "X2"],
]
ORDERS = [
    ["Customer", "OrderNo", "Products", "Total", "Currency", "State", "Ordered"],
    ["C-1001", "H2026111501", "Aurora kettle; Lumen lamp", "1,299.00", "CNY", "Delivered", "2026/11/15"],
    ["C-1002", "H2026111002", "Nimbus earbuds", "59", "EUR", "shipped", "2026-11-10"],
    ["C-1001", "H2026090301", "Lumen lamp", "129", "CNY", "delivered", "2026-09-03"],
    ["C-9999", "H2026010101", "Breeze fan", "10", "EUR", "delivered", "2026-01-01"],
]
FIELD_MAP = """\
customers:
  CustNo: user_id
  Full name: name
  Language: lang
  Market: region
  Mobile: phone
  Complaints: complaints_90d
orders:
  Customer: user_id
  OrderNo: order_id
  Products: items
  Total: amount
  Currency: currency
  State: status
  Ordered: placed_at
values:
  status: {shipped: dispatched}
ignore: [Legacy code]
"""


@pytest.fixture
def customer_files(tmp_path):
    (tmp_path / "map.yaml").write_text(FIELD_MAP, encoding="utf-8")
    return (
        write_csv(tmp_path / "customers.csv", CUSTOMERS),
        write_csv(tmp_path / "orders.csv", ORDERS),
        tmp_path / "map.yaml",
    )


def test_customers_and_orders_to_a_users_file_the_json_provider_loads(tmp_path, customer_files):
    customers, orders, fmap = customer_files
    out = tmp_path / "state" / "users.json"
    report = import_customers(customers, out, load_field_map(fmap), orders)

    provider = JsonStateProvider(out)  # what `state: json:FILE` uses
    li = provider.get("C-1001")
    emma = provider.get("C-1002")
    assert li is not None and emma is not None and provider.get("C-9999") is None
    assert (li.name, li.lang, li.region, li.complaints_90d) == ("李伟", "zh", "cn", 0)
    assert [o.order_id for o in li.orders] == ["H2026111501", "H2026090301"]
    first = li.orders[0]
    assert first.items == ("Aurora kettle", "Lumen lamp") and first.amount == 1299.0
    assert (
        str(first.status) == "delivered" and first.placed_at is not None and first.placed_at.isoformat() == "2026-11-15"
    )
    assert (emma.lang, str(emma.orders[0].status), emma.complaints_90d) == ("en", "dispatched", 2)
    assert report.customers == 2 and report.orders == 3 and report.written

    cust = report.tables[0]
    assert "内部备注" in cust.unmapped  # a header that gives no fact id: reported, not imported
    assert cust.ignored == ("Legacy code",)
    if "facts" in UserState.model_fields:  # the state model's free-form field keeps the rest
        assert ("Segment", "facts.segment") in cust.kept
        assert li.model_dump()["facts"] == {"segment": "retail"}
    else:
        assert "Segment" in cust.unmapped
    assert any("C-9999" in w for w in report.warnings)  # orders of unknown customers are said, not lost
    assert not no_leftovers(out.parent)


def test_customers_bad_rows_name_row_and_column_and_write_nothing(tmp_path, customer_files):
    customers, _, fmap = customer_files
    rows = [r[:] for r in ORDERS]
    rows[2][3] = "fifty"
    rows[3][6] = "soon"
    bad_orders = write_csv(tmp_path / "bad-orders.csv", rows)
    out = tmp_path / "users.json"
    with pytest.raises(InvalidInput) as exc:
        import_customers(customers, out, load_field_map(fmap), bad_orders)
    msg = exc.value.message
    assert "bad-orders.csv row 3: column 'Total' (amount)" in msg and "row 4: column 'Ordered' (placed_at)" in msg
    assert not out.exists()


def test_customers_dry_run_and_map_errors(tmp_path, customer_files):
    customers, orders, fmap = customer_files
    report = import_customers(customers, tmp_path / "users.json", load_field_map(fmap), orders, dry_run=True)
    assert not report.written and report.customers == 2 and not (tmp_path / "users.json").exists()
    (tmp_path / "bad.yaml").write_text("customers:\n  CustNo: customer_number\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="unknown Keel field"):
        load_field_map(tmp_path / "bad.yaml")
    (tmp_path / "nojoin.yaml").write_text("customers: {CustNo: user_id}\norders: {OrderNo: order_id}\n")
    with pytest.raises(InvalidInput, match="cannot be joined"):
        import_customers(customers, tmp_path / "u.json", load_field_map(tmp_path / "nojoin.yaml"), orders)


def test_customers_from_json_records(tmp_path):
    records = [{"id": "u1", "name": "Ana", "lang": "en", "region": "eu", "tier": "vip"}]
    (tmp_path / "c.json").write_text(json.dumps({"customers": records}), encoding="utf-8")
    (tmp_path / "m.json").write_text(json.dumps({"customers": {"id": "user_id"}, "ignore": ["tier"]}))
    out = tmp_path / "users.json"
    report = import_customers(tmp_path / "c.json", out, load_field_map(tmp_path / "m.json"))
    user = JsonStateProvider(out).get("u1")
    assert user is not None and user.name == "Ana" and report.tables[0].ignored == ("tier",)


def test_customers_checked_against_a_business(tmp_path, customer_files):
    business_mod = pytest.importorskip("keel.business")
    from keel.config import DEMO_DIR

    business = business_mod.load_business(DEMO_DIR / "business.yaml")
    customers, orders, fmap = customer_files
    with pytest.raises(InvalidInput, match=r"does not declare.*Segment"):
        import_customers(customers, tmp_path / "u.json", load_field_map(fmap), orders, business=business)
    (tmp_path / "m2.yaml").write_text(FIELD_MAP.replace("[Legacy code]", "[Legacy code, Segment]"))
    out = tmp_path / "u.json"
    import_customers(customers, out, load_field_map(tmp_path / "m2.yaml"), orders, business=business)
    assert JsonStateProvider(out, business).get("C-1001") is not None


# ---------------------------------------------------------------- CLI


def test_cli_import_commands(tmp_path, customer_files):
    src = tmp_path / "returns-policy.md"
    src.write_text(POLICY_MD, encoding="utf-8")
    kb = tmp_path / "kb"
    r = runner.invoke(app, ["import", "policy", str(src), "--out", str(kb), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "dry run: 3 document(s) checked" in r.output and not kb.exists()
    r = runner.invoke(
        app, ["import", "policy", str(src), "--out", str(kb), "--region", "cn,hk", "--valid-from", "2026-01-01"]
    )
    assert r.exit_code == 0, r.output
    assert {d.regions for d in load_folder(kb)} == {("cn", "hk")}

    bad = write_csv(tmp_path / "faq.csv", [["question", "answer"], ["q1", "a1"], ["q2", ""]])
    r = runner.invoke(app, ["import", "faq", str(bad), "--out", str(tmp_path / "faq-kb")])
    assert r.exit_code == 2 and "row 3: empty answer" in r.output and not (tmp_path / "faq-kb").exists()

    customers, orders, fmap = customer_files
    out = tmp_path / "users.json"
    args = ["import", "customers", str(customers), "--orders", str(orders), "--map", str(fmap), "--out", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "内部备注" in r.output and "2 customer(s), 3 order(s)" in r.output
    assert JsonStateProvider(out).get("C-1002") is not None
    assert runner.invoke(app, args).exit_code == 2  # the file is there: --overwrite is needed
