"""tracer lineage ...: auditor queries over the lineage store."""

from __future__ import annotations

import csv
import sys
from typing import Annotated, Optional

import typer

from .. import api
from .common import HomeOpt, JsonOpt, handles_errors, home_of, print_json

app = typer.Typer(no_args_is_help=True, help="Query the lineage: who received what, when, why.")

CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV (for spreadsheets).")]


def _csv(rows: list[dict]) -> None:
    if not rows:
        return
    w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows:
        w.writerow({k: (";".join(v) if isinstance(v, list) else v) for k, v in r.items()})


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
    rows = api.list_exports(home=home_of(home), recipient=recipient)
    if json_out:
        print_json(rows)
    elif csv_out:
        _csv(rows)
    elif not rows:
        typer.echo("No exports recorded" + (f" for {recipient}." if recipient else "."))
    else:
        for r in rows:
            typer.echo(f"{r['created_at']}  {r['export_id']}  {r['recipient']}: {r['rows']:,} rows + "
                       f"{r['canaries']} canaries, {len(r['columns'])} columns; purpose: {r['purpose'] or '-'}; "
                       f"approver: {r['approver'] or '-'}; sha256 {r['sha256'][:12]}...")
