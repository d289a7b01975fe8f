"""Live canaries: contact points the bank controls, planted in exports, and sightings of them.

A pool of the bank's own phone numbers and mailboxes (not customer data, so
kept as they are) is loaded with ``add_contacts``. Each export's unique
canaries take unused contacts from the pool (``assign``), so no two exports
share one; the use is recorded with the export (``record_uses``). When one of
those numbers is called or a mailbox written to, ``record_sighting`` names the
export and recipient, and flags a contact after the recipient's contract end
or the export's retention date as a breach. Every insert is covered by a
ledger entry; nothing is updated in place.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from canary.errors import TracerError, UnreadableFile, UsageError
from canary.kinds import Kind
from forensics.normalize import normalise

from . import ledger, store
from .store import LIVE_SCHEMA as SCHEMA
from .home import Home

KINDS = {"phone": Kind.PHONE, "email": Kind.EMAIL}


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc).replace(tzinfo=None)).replace(microsecond=0)


def _connect(home) -> tuple[Home, object]:
    h = home if isinstance(home, Home) else Home.at(home)
    h.require()
    con = store.connect(h)
    con.execute("USE store")
    con.execute(SCHEMA)
    con.execute("USE memory")
    return h, con


def add_contacts(path: str | Path, *, home=None, now: datetime | None = None) -> dict:
    """Load the bank's own contact points (a CSV with columns phone and/or email) into the pool.

    Example: add_contacts("bank_lines.csv") -> {"added": 40, "already": 0, "skipped": 1}
    """
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UnreadableFile(f"cannot read the contact file ({type(e).__name__})", path=str(p)) from None
    cols = [c for c in (rows[0].keys() if rows else []) if c and c.strip().lower() in KINDS]
    if not cols:
        raise UsageError("the contact file needs a column phone and/or email", path=str(p))
    found, skipped = [], 0
    for i, r in enumerate(rows):
        for c in cols:
            v = (r.get(c) or "").strip()
            if not v:
                continue
            n = normalise(KINDS[c.strip().lower()], v)
            if n is None:
                skipped += 1
            else:
                found.append((c.strip().lower(), n))
    h, con = _connect(home)
    try:
        have = set(con.execute("SELECT kind, value FROM store.contact_pool").fetchall())
        new = list(dict.fromkeys(x for x in found if x not in have))
        con.execute("BEGIN TRANSACTION")
        first = con.execute("SELECT coalesce(max(contact_id), 0) + 1 FROM store.contact_pool").fetchone()[0]
        at = _now(now)
        recs = [[first + i, k, v, at] for i, (k, v) in enumerate(new)]
        if recs:
            con.executemany("INSERT INTO store.contact_pool VALUES (?, ?, ?, ?)", recs)
            ledger.append(con, h.load_key(), "canary-pool", str(p.name), [("contact_pool", r[0]) for r in recs],
                          now=at)
        con.execute("COMMIT")
    finally:
        con.close()
    return {"added": len(new), "already": len(found) - len(new), "skipped": skipped}


def assign(ex, planted: list) -> None:
    """Give the export's unique canaries unused pool contacts (phone, email),
    in place; remembers which for ``record_uses``. Needs ``store`` attached."""
    ex.contact_uses = []
    cols = {k: ex.id_cols.get(kind) for k, kind in KINDS.items()}
    cols = {k: c for k, c in cols.items() if c}
    if not cols or not planted:
        return
    try:
        free = {k: con_rows for k, con_rows in (
            (k, ex.con.execute("SELECT contact_id, value FROM store.contact_pool WHERE kind = ? AND contact_id NOT IN "
                               "(SELECT contact_id FROM store.contact_uses) ORDER BY contact_id", [k]).fetchall())
            for k in cols)}
    except duckdb.Error:  # a store from before live canaries: no pool yet
        return
    for i, c in enumerate(planted):
        if c.shared_id is not None:
            continue
        for k, col in cols.items():
            if free[k]:
                cid, value = free[k].pop(0)
                c.row[col] = value
                ex.contact_uses.append((i, cid))


def record_uses(con, ex, export_no: int) -> list[tuple[str, object]]:
    """Inside the export's transaction: which canary carries which contact."""
    uses = getattr(ex, "contact_uses", None)
    if not uses:
        return []
    con.executemany("INSERT INTO store.contact_uses VALUES (?, ?, ?)", [[export_no, i, cid] for i, cid in uses])
    return [("contact_uses", export_no)]


@dataclass
class Sighting:
    sighting_id: int
    kind: str
    contact: str
    seen_at: str
    note: str | None
    export_id: str | None
    recipient: str | None
    breach: bool
    reason: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def record_sighting(*, phone: str | None = None, email: str | None = None, at: datetime | None = None,
                    note: str | None = None, home=None, now: datetime | None = None) -> Sighting:
    """Record that a live canary was contacted; name its export and recipient, flag a breach.

    Example: record_sighting(phone="13800138000", at=datetime(2027, 3, 1, 10, 0), note="insurance call")
    """
    if (phone is None) == (email is None):
        raise UsageError("give exactly one of --phone or --email")
    kind, raw = ("phone", phone) if phone is not None else ("email", email)
    value = normalise(KINDS[kind], raw)
    if value is None:
        raise UsageError(f"--{kind} is not a valid {kind}")
    rec_at = _now(now)
    seen = at or rec_at
    h, con = _connect(home)
    try:
        hit = con.execute("SELECT contact_id FROM store.contact_pool WHERE kind = ? AND value = ?",
                          [kind, value]).fetchone()
        if hit is None:
            raise TracerError(f"this {kind} is not in the canary pool (tracer canary-pool add)")
        cid = hit[0]
        use = con.execute("""
            SELECT e.export_no, e.export_id, r.name, e.retain_until, r.contract_end
            FROM store.contact_uses u JOIN store.exports e USING (export_no)
            JOIN store.recipients r USING (recipient_id) WHERE u.contact_id = ?""", [cid]).fetchone()
        export_no = export_id = recipient = None
        reasons = []
        if use:
            export_no, export_id, recipient, retain, contract_end = use
            day = seen.date()
            if retain and day > retain:
                reasons.append(f"after the export's retention date {retain}")
            if contract_end and day > contract_end:
                reasons.append(f"after the recipient's contract end {contract_end}")
        con.execute("BEGIN TRANSACTION")
        sid = con.execute("SELECT coalesce(max(sighting_id), 0) + 1 FROM store.sightings").fetchone()[0]
        reason = "; ".join(reasons) or None
        con.execute("INSERT INTO store.sightings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [sid, cid, seen, note, export_no, bool(reasons), reason, rec_at])
        ledger.append(con, h.load_key(), "sighting", export_id, [("sightings", sid)], now=rec_at)
        con.execute("COMMIT")
    finally:
        con.close()
    return Sighting(sid, kind, value, seen.isoformat(), note, export_id, recipient, bool(reasons), reason)


def list_sightings(*, home=None) -> list[Sighting]:
    """Every recorded sighting, oldest first.

    Example: [s.export_id for s in list_sightings() if s.breach]
    """
    h, con = _connect(home)
    try:
        rows = con.execute("""
            SELECT s.sighting_id, p.kind, p.value, strftime(s.seen_at, '%Y-%m-%dT%H:%M:%S'), s.note, e.export_id,
                   r.name, s.breach, s.reason
            FROM store.sightings s JOIN store.contact_pool p USING (contact_id)
            LEFT JOIN store.exports e USING (export_no) LEFT JOIN store.recipients r ON r.recipient_id = e.recipient_id
            ORDER BY s.seen_at, s.sighting_id""").fetchall()
    finally:
        con.close()
    return [Sighting(*r) for r in rows]


def parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "")).replace(tzinfo=None)
    except ValueError:
        try:
            d = date.fromisoformat(text.strip())
            return datetime(d.year, d.month, d.day)
        except ValueError:
            raise UsageError("--at must be a date or time like 2027-03-01T10:30") from None
