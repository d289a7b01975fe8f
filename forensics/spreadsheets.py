"""XLSX and XLS, read with python-calamine, every cell turned back into text.

A spreadsheet round trip is where leaks lose digits: an 18-digit ID number
typed as a number keeps 15 significant digits, a date becomes a serial or a
datetime. Cells are rendered the way a spreadsheet shows them (15 significant
digits, ISO dates), so the damage is the real one and linkage can work on
what survives.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from canary.errors import UnreadableFile, safe_detail


def cell_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        s = f"{v:.15g}"  # what a spreadsheet keeps of a number
        if "e" in s or "E" in s:
            d = Decimal(s)
            return str(int(d)) if d == d.to_integral_value() else format(d, "f")
        return s
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    s = str(v)
    return s if s.strip() else None


def _title_rows(rows: list[list[str | None]]) -> int:
    """Leading rows of one filled cell (a report's title, a date) above a
    table of three or more filled cells: up to readers.MAX_TITLE_LINES."""
    from .readers import MAX_TITLE_LINES

    filled = [sum(c is not None for c in r) for r in rows[:MAX_TITLE_LINES + 1]]
    titles = next((i for i, n in enumerate(filled) if n != 1), len(filled))
    return titles if 0 < titles <= MAX_TITLE_LINES and titles < len(filled) and filled[titles] >= 3 else 0


def read_spreadsheet(path: Path, kind: str) -> tuple[list[str], list[list[str | None]], list[str], int,
                                                    tuple[int, int] | None]:
    """(header, rows, notes, title rows skipped, stray) of the sheet with the
    most filled cells (a cover note or a notes sheet before the data is
    common); the notes name any other sheet that holds data, which is not
    read. ``stray``: (sheet row, column) of the first value right of the
    header's last name, or None."""
    from python_calamine import CalamineWorkbook

    from .readers import has_header

    try:
        wb = CalamineWorkbook.from_path(str(path))
        sheets = wb.sheet_names
        filled = {}
        for name in sheets:
            data = wb.get_sheet_by_name(name).to_python()
            data = [r for r in data if any(c not in (None, "") for c in r)]
            if data:
                filled[name] = data
        cells = {n: sum(1 for r in d for c in r if c not in (None, "")) for n, d in filled.items()}
        chosen = max(filled, key=lambda n: (cells[n], -sheets.index(n))) if filled else None
        raw = filled.get(chosen, [])
    except Exception as e:  # calamine raises its own error types for corrupt files
        raise UnreadableFile(f"not a readable {kind.upper()} workbook ({safe_detail(e)})", path=str(path)) from None
    if not raw:
        raise UnreadableFile("the workbook has no data", path=str(path))
    rows = [[cell_text(c) for c in r] for r in raw]
    notes = [f"sheet {chosen!r} of {len(sheets)}"]
    others = [f"{n!r} ({len(d):,} row{'' if len(d) == 1 else 's'})" for n, d in filled.items() if n != chosen]
    if others:
        notes.append(f"not read: other sheets that hold data, {', '.join(others)}; the one with the most cells "
                     "was read")
    titles = _title_rows(rows)
    if titles:
        rows = rows[titles:]
        notes.append(f"skipped the first {titles} row(s) of the sheet: a title above the table, not rows of it "
                     "(one cell each)")
    width = max(len(r) for r in rows)
    rows = [r + [None] * (width - len(r)) for r in rows]
    if has_header([[c or "" for c in r] for r in rows[:50]]):
        named = max((i + 1 for i, c in enumerate(rows[0]) if c), default=0)
        # A value right of the header's last name (a stray cell) is a ragged row, as in a CSV.
        stray = next(((titles + j + 2, named + 1) for j, r in enumerate(rows[1:]) if any(r[named:])), None)
        return [c or f"column{i + 1}" for i, c in enumerate(rows[0])], rows[1:], notes, titles, stray
    notes.append("no header row: columns typed by content alone")
    return [f"column{i + 1}" for i in range(width)], rows, notes, titles, None
