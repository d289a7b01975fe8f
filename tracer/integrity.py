"""A record that holds up: verify the lineage store, publish its head, rotate the key.

    from tracer import verify, ledger_head, rotate_key

    head = ledger_head(home="/srv/tracer")     # publish head.root (and head.mac)
    verify(home="/srv/tracer", head=head.root)  # later: raises LedgerMismatch if anything changed

The CLI commands `tracer verify`, `tracer ledger head` and `tracer key rotate`
are thin shells over these.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

from canary.errors import KeyProblem, TracerError
from canary.prf import Key

from . import journal, ledger, store
from .home import Home
from .ledger import Head, LedgerMismatch

__all__ = ["Head", "LedgerMismatch", "Rotation", "VerifyResult", "ledger_head", "rotate_key", "verify"]


def _home(home) -> Home:
    return home if isinstance(home, Home) else Home.at(home)


@dataclass
class VerifyResult:
    entries: int
    records: int
    head: Head | None
    recovered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "records": self.records,
                "head": self.head.to_dict() if self.head else None, "recovered": self.recovered,
                "problems": self.problems}


def verify(home: Home | str | os.PathLike | None = None, *, head: str | None = None,
           check: bool = True) -> VerifyResult:
    """Recompute every ledger entry, MAC and record digest; finish or roll back
    interrupted exports first. With ``head``, also prove the store still
    extends that published root. Raises LedgerMismatch naming the first bad
    record (its ``result`` holds them all) unless ``check`` is False; raises
    KeyProblem if a key needed to check a MAC is missing."""
    h = _home(home)
    h.require()
    if head is not None and not _is_hex64(head):
        from canary.errors import UsageError

        raise UsageError("--head takes the 64-hex-digit root printed by `tracer ledger head`")
    keyring = h.keyring()
    con = store.connect(h, read_only=True)
    try:
        recovered = journal.recover(h, con)
        v = ledger.verify(con, keyring, head_root=head)
    finally:
        con.close()
    result = VerifyResult(v.entries, v.records, v.head, [str(r) for r in recovered], [str(p) for p in v.problems])
    if check and v.problems:
        more = f" (and {len(v.problems) - 1} more problem(s))" if len(v.problems) > 1 else ""
        err = LedgerMismatch(f"the lineage store does not verify: {v.problems[0]}{more}", path=str(h.store_path))
        err.result = result
        raise err
    return result


def _is_hex64(s: str) -> bool:
    s = s.strip().lower()
    return len(s) == 64 and all(c in "0123456789abcdef" for c in s)


def ledger_head(home: Home | str | os.PathLike | None = None) -> Head:
    """The ledger's current head: publish ``root`` (the last entry's hash) and
    ``mac`` to let anyone later prove the store still extends it."""
    h = _home(home)
    con = store.connect(h, read_only=True)
    try:
        if not ledger.has_ledger(con):
            raise TracerError("the lineage store has no ledger yet: run `tracer init` to add one",
                              path=str(h.store_path))
        head = ledger.head(con)
    finally:
        con.close()
    if head is None:
        raise TracerError("the ledger is empty: run `tracer init`", path=str(h.store_path))
    return head


@dataclass
class Rotation:
    old_key_id: str
    new_key_id: str
    key_file: str
    head: Head

    def to_dict(self) -> dict:
        return {"old_key_id": self.old_key_id, "new_key_id": self.new_key_id, "key_file": self.key_file,
                "head": self.head.to_dict()}


def rotate_key(home: Home | str | os.PathLike | None = None, *, now: datetime | None = None) -> Rotation:
    """Make a new key current. New exports use it; old exports keep their key
    id and still verify and attribute, as long as the old key file is kept.
    The rotation is a ledger entry signed by the key it retires."""
    h = _home(home)
    h.require()
    old = h.load_key()
    new = Key.generate()
    path = h.write_key(new, make_current=False)
    now = (now or datetime.now(timezone.utc).replace(tzinfo=None)).replace(microsecond=0)
    try:
        con = store.connect(h)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute("INSERT INTO store.meta VALUES (?, ?)",
                            [f"key/{new.key_id}", json.dumps({"replaces": old.key_id, "at": now.isoformat()})])
                head = ledger.append(con, old, "key-rotate", new.key_id, [("meta", f"key/{new.key_id}")], now=now)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    h.set_current(new.key_id)
    return Rotation(old.key_id, new.key_id, str(path), head)


def require_keys(con, h: Home, keyring: dict[str, Key]) -> None:
    """Every key the store's exports and sources were made with must be at
    hand: without one, its exports would silently never match."""
    used = con.execute("SELECT key_id FROM store.exports UNION SELECT key_id FROM store.sources").fetchall()
    missing = sorted({k for (k,) in used} - set(keyring))
    if missing:
        raise KeyProblem(f"key {missing[0]} (used by exports in the store) is not in {h.key_dir}: without it "
                         "those exports could never be matched; restore the key file or set TRACER_KEY_DIR")
