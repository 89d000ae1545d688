"""Render a comparison: a rich table for the terminal and a self-contained HTML report with charts."""

from __future__ import annotations

import base64
import html
import io
import threading
from datetime import UTC, datetime

from rich.table import Table

from keel.eval.compare import Comparison
from keel.eval.gate import GateVerdict
from keel.eval.metrics import DESCRIPTION, DIRECTION, RISK_METRICS, MetricName
from keel.eval.run import suite_hash

_PLOT_LOCK = threading.Lock()  # pyplot keeps global state: one chart at a time (web workers are threads)
_VERDICT_STYLE = {"better": "green", "worse": "bold red", "same": "dim", "n/a": "dim", "up": "cyan", "down": "cyan"}


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def terminal_table(c: Comparison) -> Table:
    table = Table(title="Keel behaviour evaluation", show_lines=False)
    table.add_column("metric")
    table.add_column("", justify="center")
    for i, run in enumerate(c.runs):
        table.add_column(("baseline\n" if i == 0 else f"run {i}\n") + run.label, justify="right")
        if i:
            table.add_column(f"Δ run {i} [95% CI]", justify="right")
    for name in MetricName:
        arrow = {True: "↑", False: "↓", None: ""}[DIRECTION[name]]
        risk = "⚠ " if name in RISK_METRICS else ""
        row = [f"{risk}{name.value}", arrow]
        for i, run in enumerate(c.runs):
            m = run.metrics.metrics[name]
            cell = _fmt(m.value)
            if m.low is not None and m.high is not None:
                cell += f" [{m.low:.2f}, {m.high:.2f}]"
            row.append(cell)
            if i:
                d = c.deltas[i - 1][list(MetricName).index(name)]
                style = _VERDICT_STYLE.get(d.verdict, "")
                text = "–" if d.diff is None else f"{d.diff:+.3f}"
                if d.low is not None and d.high is not None:
                    text += f" [{d.low:+.2f}, {d.high:+.2f}]"
                row.append(f"[{style}]{text} {d.verdict}[/]")
        table.add_row(*row)
    return table


def _png(fig: object) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    import matplotlib.pyplot as plt

    plt.close(fig)  # type: ignore[arg-type]
    return base64.b64encode(buf.getvalue()).decode()


def metric_chart(c: Comparison) -> str:
    """Every metric of every run with its 95% interval, as a base64 PNG."""
    with _PLOT_LOCK:
        return _metric_chart(c)


def category_chart(c: Comparison) -> str:
    """Pass rate per suite category for every run, as a base64 PNG."""
    with _PLOT_LOCK:
        return _category_chart(c)


def _metric_chart(c: Comparison) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in MetricName if any(r.metrics.metrics[n].value is not None for r in c.runs)]
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(names) + 1.2))
    height = 0.8 / len(c.runs)
    colours = ["#7f8c8d", "#2e86de", "#e67e22", "#27ae60", "#8e44ad"]
    for i, run in enumerate(c.runs):
        ys, xs, errs_lo, errs_hi = [], [], [], []
        for j, n in enumerate(names):
            m = run.metrics.metrics[n]
            if m.value is None:
                continue
            ys.append(j + i * height)
            xs.append(m.value)
            errs_lo.append(max(0.0, m.value - (m.low if m.low is not None else m.value)))
            errs_hi.append(max(0.0, (m.high if m.high is not None else m.value) - m.value))
        ax.barh(
            ys,
            xs,
            height=height,
            color=colours[i % len(colours)],
            label=run.label,
            xerr=[errs_lo, errs_hi],
            capsize=2,
            error_kw={"elinewidth": 0.8},
        )
    ax.set_yticks([j + height * (len(c.runs) - 1) / 2 for j in range(len(names))])
    ax.set_yticklabels(
        [
            ("⚠ " if n in RISK_METRICS else "") + n.value + {True: " ↑", False: " ↓", None: ""}[DIRECTION[n]]
            for n in names
        ],
        fontsize=8,
    )
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("value with 95% interval")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _category_chart(c: Comparison) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = [cat for cat, _ in c.categories]
    fig, ax = plt.subplots(figsize=(11, 3.6))
    width = 0.8 / len(c.runs)
    colours = ["#7f8c8d", "#2e86de", "#e67e22", "#27ae60", "#8e44ad"]
    for i, run in enumerate(c.runs):
        values = [vals[i] or 0.0 for _, vals in c.categories]
        ax.bar(
            [j + i * width for j in range(len(cats))],
            values,
            width=width,
            label=run.label,
            color=colours[i % len(colours)],
        )
    ax.set_xticks([j + width * (len(c.runs) - 1) / 2 for j in range(len(cats))])
    ax.set_xticklabels([cat.value for cat in cats], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("pass rate")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


_CSS = """
body{font-family:system-ui,-apple-system,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:24px;color:#222;
max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;font-size:13px;width:100%}
td,th{border-bottom:1px solid #e3e3e3;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f7f9}.better{color:#1e8449;font-weight:600}.worse{color:#c0392b;font-weight:700}.same{color:#888}
.pass{background:#eafaf1;border:1px solid #27ae60;padding:10px}
.fail{background:#fdedec;border:1px solid #c0392b;padding:10px}
.reply{white-space:pre-wrap;max-width:420px}.small{color:#666;font-size:12px}img{max-width:100%}
"""


def render_html(c: Comparison, gate: GateVerdict | None = None, title: str = "Keel behaviour evaluation") -> str:
    """One self-contained HTML page (charts embedded as PNG)."""
    e = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1><p class='small'>generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>",
    ]
    parts.append(
        "<h2>Runs</h2><table><tr><th></th><th>run</th><th>model</th><th>mode</th><th>KB</th><th>cases × k</th>"
        "<th>suite</th></tr>"
    )
    for i, r in enumerate(c.runs):
        man, details = r.manifest, r.details
        kb = e(str(man.kb_version if man.kb_version is not None else "–"))
        fingerprint = (man.model.fingerprint if man.model else None) or ""
        parts.append(
            f"<tr><td>{'baseline' if i == 0 else f'run {i}'}</td><td>{e(r.run_id)}</td><td>{e(r.model_name)}"
            f"<br><span class='small'>{e(fingerprint[:16])}</span></td><td>{e(details.mode)}</td>"
            f"<td>{kb}</td><td>{details.cases} × {details.samples}</td>"
            f"<td class='small'>{e((suite_hash(man) or '')[:12])}</td></tr>"
        )
    parts.append("</table>")
    if gate is not None:
        cls = "pass" if gate.passed else "fail"
        parts.append(
            f"<h2>Release gate</h2><div class='{cls}'><b>{'PASS' if gate.passed else 'FAIL'}</b> — "
            f"candidate {e(gate.candidate)} vs baseline {e(gate.baseline)}<ul>"
        )
        parts += [f"<li>{'✔' if ch.passed else '✘'} {e(ch.why)}</li>" for ch in gate.checks]
        parts += [f"<li class='warn'>⚠ not gated, but significantly worse: {e(w)}</li>" for w in gate.warnings]
        parts.append("</ul></div>")
    parts.append(f"<h2>Metrics</h2><img alt='metrics' src='data:image/png;base64,{metric_chart(c)}'>")
    parts.append("<table><tr><th>metric</th><th>what it counts</th>")
    parts += [
        f"<th>{'baseline' if i == 0 else f'run {i}'}</th>" + ("<th>Δ [95% CI]</th>" if i else "")
        for i in range(len(c.runs))
    ]
    parts.append("</tr>")
    for idx, name in enumerate(MetricName):
        arrow = {True: "↑", False: "↓", None: ""}[DIRECTION[name]]
        row = [
            f"<td>{'⚠ ' if name in RISK_METRICS else ''}{e(name.value)} {arrow}</td>",
            f"<td class='small'>{e(DESCRIPTION[name])}</td>",
        ]
        for i, run in enumerate(c.runs):
            m = run.metrics.metrics[name]
            ci = (
                f" <span class='small'>[{m.low:.2f}, {m.high:.2f}]</span>"
                if m.low is not None and m.high is not None
                else ""
            )
            row.append(f"<td>{_fmt(m.value)}{ci}<br><span class='small'>n={m.n}</span></td>")
            if i:
                d = c.deltas[i - 1][idx]
                ci = f" [{d.low:+.2f}, {d.high:+.2f}]" if d.low is not None and d.high is not None else ""
                text = "–" if d.diff is None else f"{d.diff:+.3f}{ci}"
                row.append(
                    f"<td class='{e(d.verdict)}'>{e(text)}<br><span class='small'>{e(d.verdict)}"
                    f"{' · paired' if d.paired else ''}</span></td>"
                )
        parts.append("<tr>" + "".join(row) + "</tr>")
    parts.append("</table>")
    parts.append(
        f"<h2>Per category (pass rate)</h2><img alt='categories' src='data:image/png;base64,{category_chart(c)}'>"
    )
    parts.append(
        "<table><tr><th>category</th>"
        + "".join(f"<th>{'baseline' if i == 0 else f'run {i}'}</th>" for i in range(len(c.runs)))
        + "</tr>"
    )
    for cat, values in c.categories:
        parts.append(f"<tr><td>{e(cat.value)}</td>" + "".join(f"<td>{_fmt(v)}</td>" for v in values) + "</tr>")
    parts.append("</table>")
    for i, flips in enumerate(c.flips, 1):
        fixed = sum(f.direction == "fixed" for f in flips)
        parts.append(
            f"<h2>Cases that flipped: baseline → run {i} ({fixed} fixed, {len(flips) - fixed} broke)</h2>"
            "<table><tr><th>case</th><th>message</th><th>expected</th><th>baseline</th><th>run</th></tr>"
        )
        for f in sorted(flips, key=lambda f: (f.direction != "broke", f.category.value, f.case_id))[:200]:
            cls = "worse" if f.direction == "broke" else "better"
            parts.append(
                f"<tr><td class='{cls}'>{e(f.direction)}<br><span class='small'>{e(f.case_id)}</span></td>"
                f"<td class='reply'>{e(f.message)}</td><td>{e(', '.join(f.expected))}</td>"
                f"<td class='reply'><b>{e(f.base_action)}</b>: {e(f.base_reply[:500])}</td>"
                f"<td class='reply'><b>{e(f.other_action)}</b>: {e(f.other_reply[:500])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
