"""One error boundary for the whole project.

Every failure a user can cause is a TracerError carrying structured fields;
only the CLI turns it into one line (and an exit code). Messages never
contain customer values: name the file, row and column, not the cell.
It lives in the pure layer so that canary, forensics and tracer share it.
"""

from __future__ import annotations

import re

MAX_SHOWN_NAME = 60  # characters of a column name an error shows


class TracerError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None,
                 column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.row = row
        self.column = column

    def __str__(self) -> str:
        where = []
        if self.path:
            where.append(str(self.path))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            # A header can be a whole file's worth of text (no line breaks): one line means one line.
            shown = self.column if len(self.column) <= MAX_SHOWN_NAME else self.column[:MAX_SHOWN_NAME] + "…"
            where.append(f"column {shown!r}")
        return (": ".join([", ".join(where), self.message]) if where else self.message)


class UsageError(TracerError):
    """The command was asked for something that cannot mean anything."""

    exit_code = 2


class UnreadableFile(TracerError):
    """A file that cannot be read as a table."""


class SchemaError(TracerError):
    """Columns asked for do not exist, or a filter does not apply."""


class KeyProblem(TracerError):
    """The secret key is missing, unreadable, or not the one the store expects."""


class StoreError(TracerError):
    """The lineage store cannot be opened or written."""


class NotInitialised(TracerError):
    """No tracer home yet."""


# A function's signature in a binder error: no value, and says which types did not match.
_SIGNATURE = re.compile(r"[A-Za-z0-9_~!<>=+\-*/%|&^@#.]+\((?:[A-Z][A-Z0-9_]{2,}(?:\[\])?(?:, )?)*\)")


def safe_detail(error: BaseException, limit: int = 200, names: frozenset[str] | set[str] | None = None) -> str:
    """The first line of a library's error message with anything that could be
    a cell value removed: quoted strings and long digit runs. With ``names``
    (the columns a query may name), a double-quoted or bare word that is not
    one of them goes too: a value typed without quotes (a customer's name in
    a --where) comes back from the database as an unknown column."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    line = re.sub(r"'([^']*)'", lambda m: m.group(0) if _SIGNATURE.fullmatch(m.group(1)) else "'…'", line)
    line = re.sub(r"\d{6,}", "…", line)
    if names is not None:
        line = re.sub(r'"([^"]*)"', lambda m: m.group(0) if m.group(1) in names else '"…"', line)
        line = re.sub(r'"[^"…]+$', '"…', line)  # a value the message cut off before its closing quote
        line = re.sub(r"(no such column: )(\S+)", lambda m: m.group(0) if m.group(2) in names else m.group(1) + "…",
                      line)
    return line[:limit]
