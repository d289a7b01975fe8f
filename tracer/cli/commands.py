"""tracer init | export | attribute | demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from ..export import DEFAULT_MARK_FRACTION, ExportRequest, export
from ..progress import for_command as progress_for
from ..report import receipt_text, verdict_text
from . import app
from .common import HomeOpt, JsonOpt, QuietOpt, handles_errors, home_of, print_json


@app.command()
@handles_errors
def init(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Create the home: the lineage store and a secret key (mode 600). Idempotent.

    Example: tracer init

    Calls tracer.init(). Exit codes: 0 ok, 1 error.
    """
    r = api.init(home_of(home))
    if json_out:
        print_json(r.to_dict())
        return
    typer.echo(("Created" if r.created else "Already set up") + f" tracer home {r.home}")
    typer.echo(f"  lineage store: {r.store}")
    typer.echo(f"  secret key:    {r.key_file} (id {r.key_id}; keep it apart from the store, back it up)")


@app.command("export")
@handles_errors
def export_cmd(
    source: Annotated[str, typer.Argument(help="Source: a CSV/TSV/JSON/XLSX/Parquet file, or a SQLAlchemy URL "
                                               "(postgresql://user@host/db) with --table or --query.")],
    recipient: Annotated[str, typer.Option(help="Who receives this copy (registered on first use).")],
    out: Annotated[Path, typer.Option(help="Output file: .csv (UTF-8 with BOM), .xlsx or .parquet.")],
    purpose: Annotated[Optional[str], typer.Option(help="Why the recipient gets it.")] = None,
    approver: Annotated[Optional[str], typer.Option(help="Who approved this export.")] = None,
    authorization: Annotated[Optional[str], typer.Option(help="Approval or customer-consent reference.")] = None,
    retain_until: Annotated[Optional[str], typer.Option(help="Date by which the recipient must delete the data.")]
        = None,
    columns: Annotated[Optional[str], typer.Option(help="Comma-separated columns to export (default: all).")] = None,
    where: Annotated[Optional[str], typer.Option(help="SQL condition on the source's columns, "
                                                       "e.g. '\"月日均存款\" >= 50000'.")] = None,
    table: Annotated[Optional[str], typer.Option(help="Database sources: the table (schema.table) to read.")] = None,
    query: Annotated[Optional[str], typer.Option(help="Database sources: a SELECT to read instead.")] = None,
    mark_fraction: Annotated[float, typer.Option(help="Share of markable cells that carry a mark.")]
        = DEFAULT_MARK_FRACTION,
    canaries: Annotated[Optional[int], typer.Option(
        help="Number of canaries unique to this export (default: ~0.5% of rows, at most 1,000).")] = None,
    shared_canaries: Annotated[bool, typer.Option(
        "--shared-canaries/--no-shared-canaries",
        help="Also plant pooled canaries, each shared with a keyed quarter of the source's exports "
             "(about 1 per 400 rows, on top of --canaries): they survive a merge of copies.")] = True,
    mark_dates: Annotated[bool, typer.Option("--mark-dates/--no-mark-dates",
                                             help="Let marks move event dates (never birth or due dates).")] = True,
    neutralise_formulas: Annotated[bool, typer.Option(
        "--neutralise-formulas/--no-neutralise-formulas",
        help="Prefix text cells starting with = + - @ (not numbers or phones) with ' so a "
             "spreadsheet cannot run them (OWASP CSV injection).")] = True,
    export_id: Annotated[Optional[str], typer.Option(help="Reuse an export id to reproduce an export.")] = None,
    output_format: Annotated[Optional[str], typer.Option(
        "--format", help="csv, xlsx (every cell text) or parquet (all VARCHAR); default: from --out's extension.")]
        = None,
    encoding: Annotated[Optional[str], typer.Option(
        help="CSV encoding: utf-8 (with BOM, default) or gbk for legacy vendor systems (strict).")] = None,
    openlineage_file: Annotated[Optional[Path], typer.Option(
        help="Append the export's OpenLineage RunEvent (one JSON line) to this file.")] = None,
    openlineage_url: Annotated[Optional[str], typer.Option(
        envvar="OPENLINEAGE_URL", show_envvar=True,
        help="POST the OpenLineage RunEvent to URL/api/v1/lineage (Marquez, DataHub); "
             "a failure is a warning.")] = None,
    colluders: Annotated[int, typer.Option(help="Size the code to name one of this many merged copies.")] = 5,
    epsilon: Annotated[float, typer.Option(help="...with at most this chance of naming an innocent one.")] = 1e-6,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a fingerprinted copy of SOURCE for one recipient and record it.

    Example: tracer export customers.csv --recipient "Call centre" --purpose "insurance outreach"
    --where '"月日均存款" >= 50000' --columns 姓名,手机号,月日均存款 --out callcentre.csv

    Example: tracer export customers.csv --recipient Vendor --out vendor.xlsx --openlineage-url http://marquez:5000

    Calls tracer.export(ExportRequest(...)). Exit codes: 0 ok, 1 error, 2 usage.
    """
    from ..lineage import parse_date

    req = ExportRequest(source=source, recipient=recipient, purpose=purpose, out=str(out), approver=approver,
                        authorization=authorization, retain_until=parse_date(retain_until, "--retain-until"),
                        table=table, query=query,
                        columns=None if columns is None else columns.split(","), where=where, mark_fraction=mark_fraction,
                        canaries=canaries, shared_canaries=shared_canaries, mark_dates=mark_dates, export_id=export_id, colluders=colluders,
                        epsilon=epsilon, neutralise_formulas=neutralise_formulas, format=output_format,
                        encoding=encoding, openlineage_url=openlineage_url,
                        openlineage_file=str(openlineage_file) if openlineage_file else None)
    with progress_for("export", quiet=quiet, json_out=json_out) as progress:
        receipt = export(req, home=home_of(home), progress=progress)
    for w in receipt.warnings:
        typer.echo(f"Warning: {w}", err=True)
    if json_out:
        print_json(receipt.to_dict())
    elif not quiet:
        typer.echo(receipt_text(receipt))


@app.command()
@handles_errors
def attribute(
    leak: Annotated[str, typer.Argument(help="The leaked file.")],
    alpha: Annotated[float, typer.Option(help="Accuse only at this false-accusation probability or below "
                                              "(after correcting for every export tested).")] = 1e-6,
    report: Annotated[Optional[Path], typer.Option(
        help="Also write an evidence report: .html, .md or .json by extension.")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Find which export a leaked list came from, with a false-accusation probability.

    Example: tracer attribute leaked.csv --report evidence.html

    Calls tracer.attribute() and tracer.evidence_report.write_report().
    Exit codes: 0 a verdict was reached (any verdict), 1 error, 2 usage.
    """
    from canary.errors import UsageError

    from ..evidence_report import write_report
    from ..writers import check_output_path

    if not 0 < alpha < 1:
        raise UsageError("--alpha must be between 0 and 1")
    if report is not None and report.suffix.lower() not in (".html", ".htm", ".md", ".json"):
        raise UsageError("--report must end in .html, .md or .json", path=str(report))
    h = home_of(home)
    if report is not None:  # before the work: never after it, and never over the evidence itself
        check_output_path(report.expanduser().resolve(), "--report", inputs={"the leak": leak}, home=h)
    with progress_for("attribute", json_out=json_out) as progress:
        v = api.attribute(leak, home=h, alpha=alpha, progress=progress)
    if report is not None:
        write_report(v, report, h)
    if json_out:
        print_json(v.to_dict())
    else:
        typer.echo(verdict_text(v))
        if report is not None:
            typer.echo(f"\nEvidence report written to {report}")


@app.command()
@handles_errors
def demo(
    rows: Annotated[int, typer.Option(help="Customers in the synthetic bank list.")] = 5000,
    home: HomeOpt = None,
) -> None:
    """Walk through the whole idea offline: export to four recipients, leak, attribute.

    Example: tracer demo

    Calls tracer.demo.run_demo(). Exit codes: 0 ok, 1 error.
    """
    from ..demo import run_demo

    run_demo(home_of(home), rows=rows, echo=typer.echo)
