"""tracer verify | ledger head | key rotate: a record that holds up."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import integrity
from . import app
from .common import HomeOpt, JsonOpt, handles_errors, home_of, print_json

ledger_app = typer.Typer(no_args_is_help=True, help="The tamper-evident ledger over the lineage store.")
key_app = typer.Typer(no_args_is_help=True, help="The secret key (kept apart from the store).")


@app.command()
@handles_errors
def verify(
    head: Annotated[Optional[str], typer.Option(
        help="A root printed earlier by `tracer ledger head`: also prove the store still extends it.")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check that no lineage record was deleted, edited, inserted or reordered.

    Example: tracer verify --head 3f1c...e9 (the root an auditor was sent)

    Recomputes every ledger entry, MAC and record digest, and first finishes
    or rolls back exports interrupted by a crash. Calls tracer.verify().
    Exit codes: 0 verified, 1 error (e.g. a missing key), 2 usage,
    3 the store does not verify (the first bad record is named).
    """
    try:
        r = integrity.verify(home_of(home), head=head)
    except integrity.LedgerMismatch as e:
        if json_out:
            print_json(e.result.to_dict())
        else:
            for line in e.result.recovered:
                typer.echo(f"Recovered: {line}")
        raise
    if json_out:
        print_json(r.to_dict())
        return
    for line in r.recovered:
        typer.echo(f"Recovered: {line}")
    typer.echo(f"Verified: {r.entries:,} ledger entries cover {r.records:,} lineage records; "
               "nothing deleted, edited, inserted or reordered.")
    if r.head:
        typer.echo(f"  head: entry {r.head.seq}, root {r.head.root}")
    if head:
        typer.echo(f"  the store extends the published head {head.strip().lower()}")


@ledger_app.command("head")
@handles_errors
def ledger_head(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Print the ledger's current root (and its MAC) to publish or send to an auditor.

    Example: tracer ledger head --json > head-2024-06-30.json

    Later, `tracer verify --head ROOT` proves the store still extends it.
    Calls tracer.ledger_head(). Exit codes: 0 ok, 1 error.
    """
    h = integrity.ledger_head(home_of(home))
    if json_out:
        print_json(h.to_dict())
        return
    typer.echo(h.root)
    typer.echo(f"  entry {h.seq} of {h.created_at}; mac {h.mac} (key {h.key_id})")


@key_app.command("rotate")
@handles_errors
def key_rotate(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Make a new secret key current; old exports keep verifying and attributing.

    Example: tracer key rotate

    Keep the old key file: exports made with it need it. The key directory is
    $TRACER_HOME/keys, or $TRACER_KEY_DIR (e.g. a secret manager mount).
    Calls tracer.rotate_key(). Exit codes: 0 ok, 1 error.
    """
    r = integrity.rotate_key(home_of(home))
    if json_out:
        print_json(r.to_dict())
        return
    typer.echo(f"New key {r.new_key_id} is current: {r.key_file} (mode 600; back it up)")
    typer.echo(f"  exports made with {r.old_key_id} still need its key file; keep it")
