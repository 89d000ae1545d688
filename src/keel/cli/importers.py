"""``keel import``: bring a business's policy, FAQ and customers into Keel's formats."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from keel.cli.common import console, friendly
from keel.domain import DocKind, Lang
from keel.errors import InvalidInput
from keel.importers.customers import CustomerImportReport, import_customers, load_field_map
from keel.importers.faq import FaqOptions, import_faq
from keel.importers.kbfiles import KBImportReport
from keel.importers.policy import PolicyOptions, import_policy
from keel.online.kb.documents import ALL_REGIONS

app = typer.Typer(help="Import a policy, an FAQ table or customers into Keel's formats.", no_args_is_help=True)

DRY_RUN = typer.Option(False, "--dry-run", help="show what would be made; write nothing")
OVERWRITE = typer.Option(False, "--overwrite", help="replace files that are already there")
LANG = typer.Option(None, "--lang", case_sensitive=False, help="zh or en (default: detected per document)")
REGION = typer.Option(None, "--region", help="cn, hk, eu or all (repeat or comma-separate; default all)")
VALID_FROM = typer.Option(None, "--valid-from", help="YYYY-MM-DD the documents apply from")
VALID_TO = typer.Option(None, "--valid-to", help="YYYY-MM-DD the documents apply until")


def _regions(values: list[str] | None) -> tuple[str, ...]:
    regions = tuple(r.strip().lower() for v in values or [] for r in v.split(",") if r.strip())
    return regions or (ALL_REGIONS,)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} {value!r}: use YYYY-MM-DD") from None


def _show_kb(report: KBImportReport) -> None:
    table = Table(title=f"{report.source} → {report.out}")
    table.add_column("id", overflow="fold")
    for name in ("title", "lang", "chars", "from"):
        table.add_column(name)
    for d in report.documents:
        table.add_row(d.doc_id, d.title, d.lang.value, str(d.chars), d.origin)
    console.print(table)
    for w in report.warnings:
        console.print(f"[yellow]note:[/] {w}", highlight=False)
    n = len(report.documents)
    if report.written:
        console.print(f"[green]wrote {n} document(s)[/] to {report.out}; publish with: keel kb publish {report.out}")
    else:
        console.print(f"dry run: {n} document(s) checked, nothing written")


@app.command()
@friendly
def policy(
    file: Path = typer.Argument(..., help="the policy: .md or .html"),
    out: Path = typer.Option(..., "--out", help="KB folder to write the documents into"),
    dry_run: bool = DRY_RUN,
    lang: Lang | None = LANG,
    level: int | None = typer.Option(
        None, "--level", min=1, max=6, help="heading level to split at (default: the highest level used twice)"
    ),
    prefix: str | None = typer.Option(None, "--prefix", help="id prefix (default: the file name; '' for none)"),
    region: list[str] | None = REGION,
    kind: DocKind = typer.Option(DocKind.POLICY, "--kind", help="faq, policy or promotion"),
    valid_from: str | None = VALID_FROM,
    valid_to: str | None = VALID_TO,
    overwrite: bool = OVERWRITE,
) -> None:
    """Split a long Markdown or HTML policy by its headings into KB documents."""
    options = PolicyOptions(
        lang=lang,
        level=level,
        prefix=prefix,
        regions=_regions(region),
        kind=kind,
        valid_from=_day(valid_from, "--valid-from"),
        valid_to=_day(valid_to, "--valid-to"),
    )
    _show_kb(import_policy(file, out, options, dry_run=dry_run, overwrite=overwrite))


@app.command()
@friendly
def faq(
    file: Path = typer.Argument(..., help="the FAQ table: .csv, .tsv or .xlsx with question and answer columns"),
    out: Path = typer.Option(..., "--out", help="KB folder to write the documents into"),
    dry_run: bool = DRY_RUN,
    lang: Lang | None = LANG,
    prefix: str = typer.Option("faq", "--prefix", help="id prefix of rows without an id ('' for none)"),
    region: list[str] | None = REGION,
    valid_from: str | None = VALID_FROM,
    valid_to: str | None = VALID_TO,
    overwrite: bool = OVERWRITE,
) -> None:
    """One KB document per row of an FAQ table."""
    options = FaqOptions(
        lang=lang,
        prefix=prefix,
        regions=_regions(region),
        valid_from=_day(valid_from, "--valid-from"),
        valid_to=_day(valid_to, "--valid-to"),
    )
    _show_kb(import_faq(file, out, options, dry_run=dry_run, overwrite=overwrite))


def _show_customers(report: CustomerImportReport) -> None:
    table = Table(title=f"customers → {report.out}")
    for name in ("file", "column", "Keel field", "how"):
        table.add_column(name, overflow="fold")
    unmapped = []
    for t in report.tables:
        fates = [(c, f, "mapped") for c, f in t.mapped] + [(c, f, "[cyan]kept under facts[/]") for c, f in t.kept]
        fates += [(c, "", "[yellow]not imported (unmapped)[/]") for c in t.unmapped]
        fates += [(c, "", "ignored (map)") for c in t.ignored]
        for i, (column, field, how) in enumerate(fates):
            table.add_row(f"{t.source} ({t.rows} rows)" if i == 0 else "", column, field, how)
        unmapped += [f"{Path(t.source).name}:{c}" for c in t.unmapped]
    console.print(table)
    for w in report.warnings:
        console.print(f"[yellow]note:[/] {w}", highlight=False)
    if unmapped:
        console.print(f"[yellow]not imported:[/] {', '.join(unmapped)} (map them, or list them under ignore:)")
    counts = f"{report.customers} customer(s), {report.orders} order(s)"
    if report.written:
        console.print(f"[green]wrote {counts}[/] to {report.out}; use it with state: json:{report.out}")
    else:
        console.print(f"dry run: {counts} checked, nothing written")


@app.command()
@friendly
def customers(
    file: Path = typer.Argument(..., help="customers: .csv, .tsv, .xlsx or .json"),
    orders: Path | None = typer.Option(None, "--orders", help="orders file, joined on the column mapped to user_id"),
    field_map: Path = typer.Option(..., "--map", help="YAML/JSON map from source columns to Keel's fields"),
    out: Path = typer.Option(..., "--out", help="users JSON file to write (for state: json:FILE)"),
    business_file: Path | None = typer.Option(
        None, "--business", help="business.yaml to check regions, statuses, memberships and facts against"
    ),
    dry_run: bool = DRY_RUN,
    overwrite: bool = OVERWRITE,
) -> None:
    """Customers and their orders → a users file the JSON state provider loads."""
    fmap = load_field_map(field_map)
    business = None
    if business_file is not None:
        from keel.business import load_business

        business = load_business(business_file)
    report = import_customers(file, out, fmap, orders, business=business, dry_run=dry_run, overwrite=overwrite)
    _show_customers(report)
