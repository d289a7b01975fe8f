"""The Python API every CLI command is a thin shell over.

    from tracer import init, export, ExportRequest, attribute, list_exports
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from typing import TYPE_CHECKING

from canary.errors import KeyProblem
from canary.prf import Key

from . import ledger, store
from .home import Home
from .integrity import require_keys

if TYPE_CHECKING:
    from forensics.evidence import Verdict


@dataclass
class InitResult:
    home: str
    store: str
    key_file: str
    key_id: str
    created: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _home(home: Home | str | os.PathLike | None) -> Home:
    return home if isinstance(home, Home) else Home.at(home)


def init(home: Home | str | os.PathLike | None = None) -> InitResult:
    """Create the home, the lineage store and a key (idempotent)."""
    h = _home(home)
    created = store.create(h)
    con = store.connect(h)
    try:
        known = con.execute("SELECT value FROM store.meta WHERE key = 'first_key_id'").fetchone()
        if (h.key_dir / "current").exists():
            key_id = h.current_key_id()
            h.load_key(key_id)  # a broken or wrong key file is an error, never replaced silently
        elif known is not None:
            raise KeyProblem(f"the lineage store was made with key {known[0]}, which is not in {h.key_dir}; "
                             "restore the key file or set TRACER_KEY_DIR")
        else:
            key = Key.generate()
            h.write_key(key)
            key_id, created = key.key_id, True
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT OR IGNORE INTO store.meta VALUES ('first_key_id', ?)", [key_id])
        if ledger.head(con) is None:
            # The ledger's first entry covers everything already in the store
            # (a store made before the ledger existed is adopted as it stands).
            ledger.append(con, h.load_key(key_id), "init", key_id, ledger.uncovered(con))
        con.execute("COMMIT")
    finally:
        con.close()
    return InitResult(str(h.root), str(h.store_path), str(h.key_path(key_id)), key_id, created)


#: DuckDB's share of an attribution's memory; beyond it, it evicts the store's
#: cached blocks (read once) and spills to the home's work folder.
ATTRIBUTE_MEMORY_LIMIT = "500MB"


def attribute(leak: str | os.PathLike, *, home: Home | str | os.PathLike | None = None, alpha: float = 1e-6,
              now: datetime | None = None, progress=None) -> Verdict:
    """Attribute a leaked file against the lineage store (``progress`` as in
    tracer.export)."""
    h = _home(home)
    h.require()
    keyring = h.keyring()
    con = store.connect(h, read_only=True,
                        memory_limit=os.environ.get("TRACER_MEMORY_LIMIT", ATTRIBUTE_MEMORY_LIMIT))
    try:
        require_keys(con, h, keyring)
        store.lineage_views(con)
        from forensics.attribute import attribute as _attribute  # imported here: exports never need it

        return _attribute(con, leak, keyring, alpha=alpha, now=now, tmpdir=str(h.work_dir), progress=progress)
    finally:
        con.close()


def list_exports(*, home: Home | str | os.PathLike | None = None, recipient: str | None = None) -> list[dict]:
    """Every export, oldest first, as plain dicts (for JSON and CSV output)."""
    h = _home(home)
    con = store.connect(h, read_only=True)
    try:
        sql = """
            SELECT e.export_id, r.name AS recipient, e.purpose, e.approver, e.authorization_ref AS authorization,
                   e.retain_until, e.rows, e.canaries, e.columns,
                   strftime(e.created_at, '%Y-%m-%dT%H:%M:%S') AS created_at, e.sha256, e.bytes, e.out_path,
                   e.key_id, e.scheme, e.where_sql AS "where",
                   coalesce(json_extract_string(e.params, '$.source'), s.location) AS source,
                   json_extract_string(e.params, '$.source_table') AS source_table,
                   json_extract_string(e.params, '$.source_query') AS source_query
            FROM store.exports e JOIN store.recipients r USING (recipient_id)
            JOIN store.sources s USING (source_id)
            {where} ORDER BY e.export_no"""
        if recipient:
            cur = con.execute(sql.format(where="WHERE r.name = ?"), [recipient])
        else:
            cur = con.execute(sql.format(where=""))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()
