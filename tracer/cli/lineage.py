"""tracer lineage ...: auditor queries over the lineage store."""

from __future__ import annotations

import csv
import re
import sys
from typing import Annotated, Optional

import typer

from canary.errors import UsageError

from .. import api
from ..assemble import FORMULA_START, HARMLESS
from .common import HomeOpt, JsonOpt, handles_errors, home_of, print_json

app = typer.Typer(no_args_is_help=True, help="Query the lineage: who received what, when, why.")

CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV (for spreadsheets).")]


def _csv(rows: list[dict]) -> None:
    if not rows:
        return
    w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(";".join(v) if isinstance(v, list) else v) for k, v in r.items()})


def _cell(v):
    """A value as a spreadsheet may safely open it: text it would run as a
    formula (a recipient named =HYPERLINK(...)) gets a leading quote, as the
    export's own cells do (tracer.assemble)."""
    if isinstance(v, str) and re.match(FORMULA_START, v) and not re.match(HARMLESS, v):
        return "'" + v
    return v


@app.command()
@handles_errors
def exports(
    recipient: Annotated[Optional[str], typer.Option(help="Only this recipient's exports.")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
) -> None:
    """List exports: who got which rows and columns, when, why, approved by whom.

    Example: tracer lineage exports --recipient "Call centre" --json

    Calls tracer.list_exports(). Exit codes: 0 ok, 1 error.
    """
    _one_format(json_out, csv_out)
    rows = api.list_exports(home=home_of(home), recipient=recipient)
    if json_out:
        print_json(rows)
    elif csv_out:
        _csv(rows)
    elif not rows:
        typer.echo("No exports recorded" + (f" for {recipient}." if recipient else "."))
    else:
        for r in rows:
            what = (f" (table {r['source_table']})" if r.get("source_table") else
                    f" (query {r['source_query']})" if r.get("source_query") else "")
            typer.echo(f"{r['created_at']}  {r['export_id']}  {r['recipient']}: {r['rows']:,} rows + "
                       f"{r['canaries']:,} canaries, {len(r['columns'])} columns from {r['source']}{what}; "
                       f"purpose: {r['purpose'] or '-'}; approver: {r['approver'] or '-'}; "
                       f"sha256 {r['sha256'][:12]}...")


def _one_format(json_out: bool, csv_out: bool) -> None:
    if json_out and csv_out:
        raise UsageError("give --json or --csv, not both")


def _emit(rows: list[dict], json_out: bool, csv_out: bool, text) -> None:
    if json_out:
        print_json(rows)
    elif csv_out:
        _csv(rows)
    else:
        text()


@app.command()
@handles_errors
def customer(
    identifier: Annotated[str, typer.Argument(help="ID number, mobile number, email or customer number.")],
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
) -> None:
    """Every export that included this customer (looked up by keyed digest).

    Example: tracer lineage customer 13800138000 --json

    Calls tracer.lineage.customer_exports(). Exit codes: 0 ok, 1 error, 2 usage.
    """
    _one_format(json_out, csv_out)
    from ..lineage import customer_exports

    res = customer_exports(identifier, home=home_of(home))
    if json_out:
        print_json(res)
        return

    def text() -> None:
        looked_up = {"idno": "an ID number", "phone": "a mobile number", "email": "an email",
                     "custno": "a customer number"}.get(res["identifier_kind"], res["identifier_kind"])
        typer.echo(f"Looked up as {looked_up}.")
        if not res["known_customer"]:
            typer.echo("No recorded source holds this customer.")
        for c in res["canary_in"]:
            typer.echo(f"This is a canary (synthetic customer) planted in export {c['export_id']} "
                       f"for {c['recipient']}.")
        typer.echo(f"{len(res['exports'])} export(s) included this customer:")
        for e in res["exports"]:
            typer.echo(f"  {e['created_at']}  {e['export_id']}  {e['recipient']}: {e['purpose'] or '-'} "
                       f"(approver {e['approver'] or '-'}; columns {', '.join(e['columns'])})")

    _emit(res["exports"], False, csv_out, text)


@app.command()
@handles_errors
def recipient(
    name: Annotated[str, typer.Argument(help="The recipient's name.")],
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
) -> None:
    """Everything a recipient received: rows, columns, purposes, approvals.

    Example: tracer lineage recipient "Anxin call centre" --csv

    Calls tracer.lineage.recipient_report(). Exit codes: 0 ok, 1 error.
    """
    _one_format(json_out, csv_out)
    from ..lineage import recipient_report

    res = recipient_report(name, home=home_of(home))
    if json_out:
        print_json(res)
        return

    def text() -> None:
        typer.echo(f"{res['name']} ({res['kind'] or 'kind not recorded'}"
                   f"{', under ' + res['parent'] if res['parent'] else ''}; contract end "
                   f"{res['contract_end'] or '-'}): {len(res['exports'])} exports, "
                   f"{res['distinct_customers']:,} distinct customers")
        for e in res["exports"]:
            typer.echo(f"  {e['created_at']}  {e['export_id']}: {e['rows']:,} rows, columns "
                       f"{', '.join(e['columns'])}; purpose {e['purpose'] or '-'}; approver {e['approver'] or '-'}; "
                       f"authorization {e['authorization_ref'] or '-'}; retain until {e['retain_until'] or '-'}")

    _emit(res["exports"], False, csv_out, text)


@app.command("audit")
@handles_errors
def audit_cmd(
    today: Annotated[Optional[str], typer.Option(help="Audit as of this date (default: today).")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
) -> None:
    """Findings: exports without purpose or approver, sensitive data to vendors
    without authorization, ended contracts, passed retention, outlier volumes.

    Example: tracer lineage audit --json

    Calls tracer.lineage.audit(). Exit codes: 0 ok (findings or not), 1 error.
    """
    _one_format(json_out, csv_out)
    from ..lineage import audit, parse_date

    findings = [f.to_dict() for f in audit(home=home_of(home), today=parse_date(today, "--today"))]

    def text() -> None:
        if not findings:
            typer.echo("No findings.")
        for f in findings:
            typer.echo(f"[{f['rule']}] {f['subject']} ({f['recipient']}): {f['detail']}")

    _emit(findings, json_out, csv_out, text)
