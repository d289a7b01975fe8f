"""Progress of long commands (export, attribute), on stderr, for people.

The pipelines report stages through a plain callable,
``progress(stage, done=None, total=None)``, so that forensics/ stays free of
any display library; this module turns those calls into a rich progress bar.
It shows nothing for a command that finishes within ``DELAY_S`` seconds, and
nothing at all when stderr is not a terminal, with ``--quiet`` or with
``--json`` (whose stdout must stay a single JSON document).
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable

ProgressFn = Callable[..., None]
DELAY_S = 1.5


def noop(stage: str, done: int | None = None, total: int | None = None) -> None:
    """The progress callable when nobody is watching."""


class StageProgress:
    """A rich progress display of pipeline stages (one task, renamed per stage,
    with a bar when the stage knows its total)."""

    def __init__(self, title: str, console=None, delay_s: float = DELAY_S) -> None:
        from rich.console import Console

        self.title = title
        self.console = console or Console(stderr=True)
        self.delay_s = delay_s
        self.t0 = time.monotonic()
        self._progress = None
        self._task = None
        self.stages: list[str] = []  # every stage reported, in order (tests read it)

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        if not self.stages or self.stages[-1] != stage:
            self.stages.append(stage)
        if self._progress is None:
            if time.monotonic() - self.t0 < self.delay_s:
                return
            self._start()
        self._progress.update(self._task, description=f"{self.title}: {stage}", total=total,
                              completed=done or 0)

    def _start(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, \
            TimeElapsedColumn

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(), console=self.console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task(self.title, total=None)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> "StageProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def for_command(title: str, *, quiet: bool = False, json_out: bool = False):
    """A context manager giving a CLI command its progress callable: a
    StageProgress on a terminal, else None (the pipeline then reports nowhere)."""
    if quiet or json_out or not sys.stderr.isatty():
        return contextlib.nullcontext(None)
    return StageProgress(title)
