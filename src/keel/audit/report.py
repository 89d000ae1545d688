"""The audit report: a terminal summary (rich) and one self-contained HTML file."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from keel.audit.schema import ROUTE_LABELS, FindingKind, Route

if TYPE_CHECKING:
    from keel.audit.run import AuditResult

FINDING_LABELS: dict[str, str] = {
    FindingKind.INCONSISTENT.value: "inconsistent answers",
    FindingKind.HIDDEN_EXCEPTION.value: "hidden exceptions",
    FindingKind.SOOTHING_ONLY.value: "soothing-only replies",
    FindingKind.VOLATILE.value: "volatile knowledge",
    FindingKind.STATE_DEPENDENT.value: "state-dependent content",
    FindingKind.DISPUTED.value: "disputed topics",
}


def _region(region: str | None) -> str:
    return {"*": "all regions", None: "unknown region"}.get(region, region or "?")


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def print_report(result: AuditResult, console: Console) -> None:
    console.print(
        f"[bold]Audit[/] of {result.dialogs:,} dialogs ({result.turns:,} turns) against KB "
        f"v{result.kb_version} in {result.seconds:.1f}s — {result.clusters:,} question clusters, "
        f"{result.embedded_questions:,} questions embedded"
    )
    if result.skipped:
        console.print(f"[yellow]{result.skipped} malformed line(s) skipped[/] (all in skipped.jsonl):")
        for line_no, reason in result.skipped_lines[:10]:
            console.print(f"  line {line_no}: {reason}", highlight=False)
    t = Table("finding", "dialogs", "share", title="Findings")
    for kind, label in FINDING_LABELS.items():
        n = result.findings.get(kind, 0)
        t.add_row(label, f"{n:,}", _pct(n, result.dialogs))
    console.print(t)
    r = Table("route", "dialogs", "share", title="Routes (each dialog exactly one)")
    for route in Route:
        n = result.routes.get(route.value, 0)
        r.add_row(ROUTE_LABELS[route], f"{n:,}", _pct(n, result.dialogs))
    console.print(r)
    if result.worst_clusters:
        w = Table("kind", "region", "question", "values (count)", "KB", title="Worst clusters")
        for c in result.worst_clusters[:8]:
            values = ", ".join(f"{v} ×{n}" for v, n in list(c["values"].items())[:5])
            w.add_row(c["kind"], _region(c["region"]), c["question"][:48], values, ", ".join(c["kb_values"]) or "-")
        console.print(w)
    console.print(
        f"datasets, findings and manifest in [bold]{result.run_dir}[/]; report: {result.report_html}", highlight=False
    )


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC",sans-serif;margin:2rem;
color:#1d2733;max-width:1200px}h1{font-size:1.5rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d6dde5;padding:.35rem .6rem;
text-align:left;vertical-align:top}th{background:#f1f4f8}.num{text-align:right}
.bar{background:#4a7bd0;height:.7rem;display:inline-block}.pair{display:flex;gap:1rem}
.pair>div{flex:1;border:1px solid #d6dde5;border-radius:6px;padding:.6rem;background:#fafbfc}
.agent{color:#2a5c2a}.customer{color:#6b3a1f}.hl{background:#fff1b8}.muted{color:#6b7785;font-size:.85rem}
.kb{background:#eef6ee;border-left:3px solid #5a9a5a;padding:.4rem .6rem;white-space:pre-wrap}
code{background:#f1f4f8;padding:0 .2rem}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _dialog_html(dialog: dict[str, Any], marked: set[int]) -> str:
    rows = []
    for i, t in enumerate(dialog.get("turns", [])):
        cls = "hl" if i in marked else ""
        who = t["role"] + (f" ({t['agent']})" if t.get("agent") else "")
        rows.append(f'<div class="{cls}"><span class="{t["role"]}"><b>{i} {_e(who)}:</b></span> {_e(t["text"])}</div>')
    return "".join(rows)


def write_html(result: AuditResult, path: Path) -> None:
    parts = [
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>Keel audit</title>"
        f"<style>{_CSS}</style><h1>Keel audit: {result.dialogs:,} dialogs against KB v{result.kb_version}</h1>",
        f"<p class='muted'>{result.turns:,} turns · {result.skipped} malformed lines skipped · "
        f"{result.clusters:,} question clusters · {result.embedded_questions:,} embedded · "
        f"{result.seconds:.1f}s · run folder <code>{_e(result.run_dir)}</code></p>",
    ]
    top = max([1, *result.findings.values()])
    parts.append("<h2>Findings</h2><table><tr><th>finding</th><th>dialogs</th><th>share</th><th></th></tr>")
    for kind, label in FINDING_LABELS.items():
        n = result.findings.get(kind, 0)
        parts.append(
            f"<tr><td>{_e(label)}</td><td class='num'>{n:,}</td><td class='num'>"
            f"{_pct(n, result.dialogs)}</td><td><span class='bar' style='width:{200 * n // top}px'>"
            f"</span></td></tr>"
        )
    parts.append("</table><h2>Routes</h2><table><tr><th>route</th><th>dialogs</th><th>share</th><th>dataset</th></tr>")
    for route in Route:
        n = result.routes.get(route.value, 0)
        parts.append(
            f"<tr><td>{_e(ROUTE_LABELS[route])}</td><td class='num'>{n:,}</td><td class='num'>"
            f"{_pct(n, result.dialogs)}</td><td><code>datasets/{route.value}.jsonl</code></td></tr>"
        )
    parts.append("</table>")
    if result.skipped_lines:
        parts.append("<h2>Skipped lines</h2><table><tr><th>line</th><th>reason</th></tr>")
        parts += [f"<tr><td class='num'>{n}</td><td>{_e(r)}</td></tr>" for n, r in result.skipped_lines]
        parts.append("</table>")
    parts.append("<h2>Worst clusters</h2>")
    for c in result.worst_clusters:
        parts.append(
            f"<h3>{_e(c['kind'])}: “{_e(c['question'])}” <span class='muted'>"
            f"{_e(_region(c['region']))} · {_e(c['key'])} · {c['flagged_dialogs']} dialogs flagged"
            "</span></h3>"
        )
        if c.get("passage_id"):
            parts.append(
                f"<div class='kb'><b>KB {_e(c['passage_id'])}</b> states {_e(', '.join(c['kb_values']))}"
                f"\n{_e(c.get('passage_text') or '')}</div>"
            )
        else:
            parts.append("<div class='kb'>No KB passage states any of these values: the business owner decides.</div>")
        parts.append("<div class='pair'>")
        # the KB's value first, then the flagged ones, then the rest
        order = sorted(
            c["values"].items(), key=lambda vn: (vn[0] not in c["kb_values"], vn[0] not in c["flagged_values"], -vn[1])
        )
        for value, n in order[:3]:
            flag = " (flagged)" if value in c["flagged_values"] else ""
            agents = ", ".join(c["agents"].get(value, []))
            exs = "".join(
                f"<p><span class='muted'>{_e(e['dialog_id'])} turn {e['turn']} · {_e(e['agent'])}</span>"
                f"<br>{_e(e['answer'])}</p>"
                for e in c["examples"].get(value, [])
            )
            parts.append(
                f"<div><b>{_e(value)}</b> ×{n}{flag}<br><span class='muted'>agents: {_e(agents)}</span>{exs}</div>"
            )
        parts.append("</div>")
    parts.append("<h2>Examples per finding</h2>")
    for kind, label in FINDING_LABELS.items():
        shown = result.examples.get(kind, ())
        if not shown:
            continue
        parts.append(f"<h3>{_e(label)}</h3>")
        for f in shown[:3]:
            ev = {k: v for k, v in f["evidence"].items() if k not in ("examples", "passage_text")}
            passage = f["evidence"].get("passage_text")
            parts.append(
                "<div class='pair'><div>" + _dialog_html(f["dialog"], set(f["turns"])) + "</div><div>"
                f"<b>{_e(f['summary'])}</b>"
                + (f"<div class='kb'>{_e(passage)}</div>" if passage else "")
                + f"<pre class='muted'>{_e(json.dumps(ev, ensure_ascii=False, indent=1)[:1200])}</pre>"
                "</div></div>"
            )
    parts.append("</html>")
    path.write_text("".join(parts), encoding="utf-8")
