"""What leakers do to a copy, as code: for the demo, the tests and benchmarks.

Each function takes and returns (header, rows) so steps compose:
subset, drop or rename columns, shuffle or sort, merge copies, re-save.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Sequence

Table = tuple[list[str], list[list[str]]]


def read(path: str | Path, encoding: str = "utf-8-sig") -> Table:
    with open(path, newline="", encoding=encoding) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write(path: str | Path, table: Table, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    header, rows = table
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return Path(path)


def sample(table: Table, n: int, seed: int = 0) -> Table:
    header, rows = table
    return header, random.Random(seed).sample(rows, min(n, len(rows)))


def head(table: Table, n: int) -> Table:
    return table[0], table[1][:n]


def shuffle(table: Table, seed: int = 0) -> Table:
    header, rows = table
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return header, rows


def sort_by(table: Table, column: str) -> Table:
    header, rows = table
    i = header.index(column)
    return header, sorted(rows, key=lambda r: r[i])


def keep(table: Table, columns: Sequence[str]) -> Table:
    header, rows = table
    idx = [header.index(c) for c in columns]
    return [header[i] for i in idx], [[r[i] for i in idx] for r in rows]


def drop(table: Table, columns: Sequence[str]) -> Table:
    return keep(table, [c for c in table[0] if c not in set(columns)])


def rename(table: Table, mapping: dict[str, str]) -> Table:
    return [mapping.get(h, h) for h in table[0]], table[1]


def concat(*tables: Table) -> Table:
    header = tables[0][0]
    rows: list[list[str]] = []
    for h, r in tables:
        idx = [h.index(c) for c in header]
        rows.extend([[row[i] for i in idx] for row in r])
    return header, rows


def filter_rows(table: Table, keep_row) -> Table:
    header, rows = table
    return header, [r for r in rows if keep_row(dict(zip(header, r)))]
