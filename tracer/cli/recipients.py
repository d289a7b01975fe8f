"""tracer recipient add | list | show."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import HomeOpt, JsonOpt, handles_errors, home_of, print_json

app = typer.Typer(no_args_is_help=True, help="Register and inspect recipients (vendors, departments, people).")


@app.command()
@handles_errors
def add(
    name: Annotated[str, typer.Argument(help="The recipient's name.")],
    kind: Annotated[Optional[str], typer.Option(help="vendor, department or person.")] = None,
    parent: Annotated[Optional[str], typer.Option(help="The vendor this one subcontracts for.")] = None,
    contract_end: Annotated[Optional[str], typer.Option(help="Contract end date, e.g. 2027-06-30.")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register a recipient, or update its kind, parent or contract end.

    Example: tracer recipient add "Anxin call centre" --kind vendor --contract-end 2027-06-30

    Calls tracer.lineage.add_recipient(). Exit codes: 0 ok, 1 error, 2 usage.
    """
    from ..lineage import add_recipient, parse_date

    r = add_recipient(name, kind=kind, parent=parent, contract_end=parse_date(contract_end, "--contract-end"),
                      home=home_of(home))
    if json_out:
        print_json(r.to_dict())
    else:
        typer.echo(f"{'Registered' if r.created else 'Updated'} {r.name}: kind {r.kind or '-'}, "
                   f"parent {r.parent or '-'}, contract end {r.contract_end or '-'}")


@app.command("list")
@handles_errors
def list_cmd(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """List recipients with their exports.

    Example: tracer recipient list --json

    Calls tracer.lineage.list_recipients(). Exit codes: 0 ok, 1 error.
    """
    from ..lineage import list_recipients

    rows = list_recipients(home=home_of(home))
    if json_out:
        print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['name']}: {r['kind'] or 'kind not recorded'}"
                   f"{', under ' + r['parent'] if r['parent'] else ''}; contract end {r['contract_end'] or '-'}; "
                   f"{r['exports']} exports, {r['rows']:,} rows")


@app.command()
@handles_errors
def show(name: Annotated[str, typer.Argument(help="The recipient's name.")], home: HomeOpt = None,
         json_out: JsonOpt = False) -> None:
    """Show one recipient and everything it received.

    Example: tracer recipient show "Anxin call centre"

    Calls tracer.lineage.recipient_report(). Exit codes: 0 ok, 1 error.
    """
    from . import lineage as lineage_cli

    lineage_cli.recipient(name=name, home=home, json_out=json_out, csv_out=False)
