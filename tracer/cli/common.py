"""What every command shares: options spelled once, and the one error boundary."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from canary.errors import TracerError
from forensics.duck import is_interrupt

from ..home import STORE_FILE, Home
from ..store import damaged

HomeOpt = Annotated[Optional[Path], typer.Option(
    "--home", envvar="TRACER_HOME", show_envvar=True,
    help="tracer's home: lineage store and keys (default ~/.tracer).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only (machine-readable).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]

DEBUG = {"on": os.environ.get("TRACER_DEBUG") == "1"}


def home_of(path: Optional[Path]) -> Home:
    return Home.at(path)


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def handles_errors(fn: Callable) -> Callable:
    """Turn TracerError into one line and an exit code; anything else too,
    unless --debug asks for the traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except TracerError as e:
            if DEBUG["on"]:
                raise
            fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:  # `tracer lineage ... | head`: the reader has all it wants
            _quiet_stdout()
            raise SystemExit(141) from None
        except Exception as e:  # a bug: still one line, and how to see more
            if is_interrupt(e):
                fail("interrupted", 130)
            if DEBUG["on"]:
                raise
            store = _damaged_store(e)
            if store:
                fail(f"{store}: {damaged(e)}")
            fail(f"internal error ({type(e).__name__}); rerun with --debug for details")

    return wrapper


def _damaged_store(e: Exception) -> str | None:
    """The store's path when ``e`` is DuckDB failing to read it (a truncated
    or overwritten file reads as an I/O or corruption error mid-query)."""
    import duckdb

    text = str(e)
    read_failed = isinstance(e, (duckdb.IOException, duckdb.SerializationException, duckdb.InternalException))
    if not isinstance(e, duckdb.Error) or not ("orrupt" in text or (read_failed and STORE_FILE in text)):
        return None
    m = re.search(f'"([^"]*{re.escape(STORE_FILE)})"', text)
    return m.group(1) if m else STORE_FILE


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def print_json(obj: Any) -> None:
    sys.stdout.write(json_text(obj) + "\n")


def json_text(obj: Any, depth: int = 2, _at: int = 0) -> str:
    """``obj`` as JSON laid out ``depth`` levels deep, one member or element a
    line, each deeper value compact on its line: a verdict's candidates or a
    listing's records one a line. (json.dumps with ``indent`` runs Python's
    pure-Python encoder, a tenth of a second per megabyte: the C encoder
    writes each line.)"""
    if _at >= depth or not isinstance(obj, (dict, list)) or not obj:
        return json.dumps(obj, ensure_ascii=False, default=str)
    pad, inner = "  " * _at, "  " * (_at + 1)
    if isinstance(obj, dict):
        items = (f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {json_text(v, depth, _at + 1)}"
                 for k, v in obj.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    return "[\n" + ",\n".join(f"{inner}{json_text(v, depth, _at + 1)}" for v in obj) + f"\n{pad}]"
