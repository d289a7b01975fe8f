"""tracer canary-pool add | sighting | sightings: live canaries (tracer.live)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import HomeOpt, JsonOpt, handles_errors, home_of, print_json

pool_app = typer.Typer(no_args_is_help=True,
                       help="The bank's own phones, mailboxes and addresses, planted as live canaries.")


@pool_app.command("add")
@handles_errors
def pool_add(
    file: Annotated[Path, typer.Argument(help="CSV with columns phone, email and/or address (or 手机号, 邮箱, 地址): "
                                              "the bank's own contacts.")],
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Load contact points the bank controls; each export's canaries take unused ones.

    Example: tracer canary-pool add bank_lines.csv

    Calls tracer.live.add_contacts(). Exit codes: 0 ok, 1 error, 2 usage.
    """
    from ..live import add_contacts

    r = add_contacts(file, home=home_of(home))
    if json_out:
        print_json(r)
    else:
        typer.echo(f"Added {r['added']} contact(s) to the canary pool ({r['already']} already there, "
                   f"{r['skipped']} not a valid phone, email or address, {r['customers']} a customer's phone or "
                   "email in a recorded source: left out)")


@pool_app.command("status")
@handles_errors
def pool_status(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """How many of the bank's contacts of each kind the pool holds and how many are still free.

    Example: tracer canary-pool status

    Calls tracer.live.pool_status(). Exit codes: 0 ok, 1 error.
    """
    from ..live import pool_status as status

    r = status(home=home_of(home))
    if json_out:
        print_json(r)
        return
    for kind, n in r.items():
        typer.echo(f"{kind:8} {n['in_pool']:>6,} in pool  {n['used']:>6,} planted  {n['free']:>6,} free")


@app.command()
@handles_errors
def sighting(
    phone: Annotated[Optional[str], typer.Option(help="The pool phone number that was called.")] = None,
    email: Annotated[Optional[str], typer.Option(help="The pool mailbox that was written to.")] = None,
    address: Annotated[Optional[str], typer.Option(help="The pool address a letter or visit went to.")] = None,
    at: Annotated[Optional[str], typer.Option(help="When, e.g. 2027-03-01T10:30 (default: now).")] = None,
    note: Annotated[Optional[str], typer.Option(help="What happened (caller, pitch).")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record that a live canary was contacted: names the export and recipient, flags a breach.

    Give the phone, mailbox or address of the bank's own that was reached; an
    address matches however it is written.

    Example: tracer sighting --phone 13800138000 --at 2027-03-01T10:30 --note "insurance pitch"

    Example: tracer sighting --address "湖南省长沙市岳麓区麓山南路1号2栋101室" --note "marketing letter"

    Calls tracer.live.record_sighting(). Exit codes: 0 ok, 1 error, 2 usage.
    """
    from ..live import parse_time, record_sighting

    s = record_sighting(phone=phone, email=email, address=address, at=parse_time(at), note=note, home=home_of(home))
    if json_out:
        print_json(s.to_dict())
        return
    who = f"export {s.export_id} to {s.recipient}" if s.export_id else "no export (contact never planted)"
    typer.echo(f"Sighting {s.sighting_id}: {s.kind} contacted {s.seen_at}, planted in {who}")
    if s.breach:
        typer.echo(f"BREACH: contact {s.reason}")


@app.command()
@handles_errors
def sightings(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """List recorded sightings of live canaries, breaches marked.

    Example: tracer sightings --json

    Calls tracer.live.list_sightings(). Exit codes: 0 ok, 1 error.
    """
    from ..live import list_sightings

    rows = list_sightings(home=home_of(home))
    if json_out:
        print_json([s.to_dict() for s in rows])
        return
    for s in rows:
        flag = f"  BREACH ({s.reason})" if s.breach else ""
        typer.echo(f"{s.seen_at}  {s.kind} {s.contact}  {s.export_id or '-'}  {s.recipient or '-'}{flag}")
    if not rows:
        typer.echo("No sightings recorded.")
