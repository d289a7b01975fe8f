"""The `tracer` command line: thin shells over the Python API (tracer.api)."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from .common import DEBUG

app = typer.Typer(
    name="tracer", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Make every copy of a customer list traceable: fingerprinted exports, a lineage store, "
         "and leak attribution with a false-accusation probability.")


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    if debug:
        DEBUG["on"] = True


from . import commands, integrity, lineage, live, recipients  # noqa: E402  (register commands on app)

app.add_typer(lineage.app, name="lineage")
app.add_typer(recipients.app, name="recipient")
app.add_typer(integrity.ledger_app, name="ledger")
app.add_typer(integrity.key_app, name="key")
app.add_typer(live.pool_app, name="canary-pool")


def main() -> None:
    stop_on_termination()
    app()


def stop_on_termination() -> None:
    """A TERM or HUP (docker stop, systemd, a CI timeout, a closed terminal)
    stops tracer the way Ctrl-C does: the export under way is rolled back and
    its temporary output and scratch files removed, instead of being left for
    the next command to find."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupt)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


__all__ = ["app", "main", "commands", "stop_on_termination"]
