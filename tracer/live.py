"""Live canaries: contact points the bank controls, planted in exports, and sightings of them.

A pool of the bank's own phone numbers, mailboxes and postal addresses (not
customer data, so kept as they are) is loaded with ``add_contacts``. Each
export's unique canaries take unused contacts from the pool (``assign``),
written in the shape of the column they go into, so no two exports share one;
pooled canaries, which a keyed subset of exports share by design, keep
synthetic contacts. The use is recorded with the export (``record_uses``),
which refuses a contact a concurrent export took first. When the pool runs
short the export still goes out, the remaining canaries with synthetic
contacts, and the steward gets one warning line. When one of the numbers is
called, a mailbox written to or a letter arrives, ``record_sighting`` names
the export and recipient, and flags a contact after the recipient's contract
end or the export's retention date as a breach. Every insert is covered by a
ledger entry; nothing is updated in place.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from canary.contacts import email_like, normalize_address, phone_like, tidy_address
from canary.errors import TracerError, UnreadableFile, UsageError
from canary.kinds import Kind
from forensics.duck import insert_rows
from forensics.normalize import KIND_CODES, identity_label, normalise, sql_address_key

from . import ledger, store
from .canaries import passing_filter
from .filters import qident
from .home import Home
from .store import LIVE_SCHEMA as SCHEMA

KINDS = {"phone": Kind.PHONE, "email": Kind.EMAIL, "address": Kind.ADDRESS}
#: Column headers a contact file may use for each kind (compared trimmed, case-insensitive).
HEADERS = {"phone": "phone", "mobile": "phone", "手机号": "phone", "email": "email", "邮箱": "email",
           "address": "address", "地址": "address"}
NOUNS = {"phone": "phone", "email": "mailbox", "address": "address"}


def _key(kind: str, value: str | None) -> str | None:
    """The form contacts are compared in: normalised phone or email, normal-form address."""
    if kind == "address":
        return normalize_address(value)
    return normalise(KINDS[kind], value)


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


def _read_contact_file(p: Path) -> list[dict]:
    for encoding in ("utf-8-sig", "gb18030"):  # as saved by a script, or by Excel on a Chinese desktop
        try:
            with open(p, newline="", encoding=encoding) as f:
                return list(csv.DictReader(f))
        except UnicodeDecodeError:
            continue
        except (OSError, csv.Error) as e:
            raise UnreadableFile(f"cannot read the contact file ({type(e).__name__})", path=str(p)) from None
    raise UnreadableFile("cannot read the contact file (neither UTF-8 nor GBK text)", path=str(p))


def add_contacts(path: str | Path, *, home=None, now: datetime | None = None) -> dict:
    """Load the bank's own contact points into the pool: a CSV with columns
    phone, email and/or address (or 手机号, 邮箱, 地址). Phones and mailboxes are
    kept normalised, addresses as written; a contact already in the pool, in
    any writing, is not added twice.

    Example: add_contacts("bank_lines.csv") -> {"added": 40, "already": 0, "skipped": 1, "customers": 0}
    """
    p = Path(path)
    rows = _read_contact_file(p)
    header = [c for c in (rows[0].keys() if rows else []) if c]
    cols = {c: HEADERS[c.strip().lower()] for c in header if c.strip().lower() in HEADERS}
    if not cols:
        raise UsageError("the contact file needs a column phone, email or address", path=str(p))
    found, skipped = {}, 0
    for r in rows:
        for col, kind in cols.items():
            v = (r.get(col) or "").strip()
            if not v:
                continue
            k = _key(kind, v)
            if k is None:
                skipped += 1
            else:
                found.setdefault((kind, k), k if kind != "address" else tidy_address(v))
    h, con = _connect(home)
    try:
        pool = con.execute("SELECT kind, value FROM store.contact_pool").fetchall()
        have = {(kind, _key(kind, v)) for kind, v in pool}
        new = [(kind, value) for (kind, k), value in found.items() if (kind, k) not in have]
        customers = _customers_of_recorded_sources(con, h, new)
        new = [c for c in new if c not in customers]
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
    return {"added": len(new), "already": len(found) - len(new) - len(customers), "skipped": skipped,
            "customers": len(customers)}


def _customers_of_recorded_sources(con, h: Home, contacts: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The phones and mailboxes among ``contacts`` that a customer of a source
    the store records has (by its keyed digests): a canary carrying one
    would be a real person's, and a call to it a false sighting. Addresses
    are checked at each export, against its source (the store keeps no
    address)."""
    from canary.prf import identity_key

    ikey = identity_key(h.load_key())
    checks = [(i, KIND_CODES[KINDS[kind]], ikey.digest64(identity_label(KINDS[kind]), value))
              for i, (kind, value) in enumerate(contacts) if kind != "address"]
    if not checks:
        return set()
    insert_rows(con, "pool_check", ["i", "kind", "digest"], checks, [pa.int32(), pa.uint8(), pa.uint64()])
    hits = con.execute("SELECT DISTINCT c.i FROM pool_check c JOIN store.source_identities s "
                       "ON s.kind = c.kind AND s.digest = c.digest").fetchall()
    return {contacts[i] for (i,) in hits}


def pool_status(*, home=None) -> dict[str, dict[str, int]]:
    """How many contacts of each kind the pool holds, and how many are still free.

    Example: pool_status() -> {"phone": {"in_pool": 40, "used": 12, "free": 28}, ...}
    """
    h, con = _connect(home)
    try:
        rows = con.execute("""
            SELECT p.kind, count(*), count(*) FILTER (WHERE EXISTS (
                SELECT 1 FROM store.contact_uses u WHERE u.contact_id = p.contact_id))
            FROM store.contact_pool p GROUP BY p.kind""").fetchall()
    finally:
        con.close()
    got = {kind: {"in_pool": n, "used": used, "free": n - used} for kind, n, used in rows}
    return {kind: got.get(kind, {"in_pool": 0, "used": 0, "free": 0}) for kind in KINDS}


def _carriers(ex) -> dict[str, str]:
    """Pool kind -> the exported column that carries it (the first of its kind,
    the one the lineage digests a canary's phone or email from)."""
    out: dict[str, str] = {}
    for t in ex.types:
        for kind, k in KINDS.items():
            if t.kind is k and t.name in ex.out_cols:
                out.setdefault(kind, t.name)
    return out


def _shaped(kind: str, template: str | None, value: str) -> str:
    if kind == "phone":
        return phone_like(template, value)
    if kind == "email":
        return email_like(template, value)
    return value


def _clear_of_customers(ex, kind: str, candidates: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Pool phones and mailboxes that no customer of this source and no earlier
    canary has: a canary never shares an identifier with anyone."""
    if not candidates:
        return candidates
    if kind == "address":
        return _addresses_clear_of_customers(ex, candidates)
    k = KINDS[kind]
    insert_rows(ex.con, "live_check", ["contact_id", "digest"],
                [(cid, ex.ikey.digest64(identity_label(k), v)) for cid, v in candidates], [pa.int32(), pa.uint64()])
    tests = [f"EXISTS (SELECT 1 FROM store.canaries k WHERE k.{k.value}_digest = c.digest)"]
    if k in ex.id_cols:
        tests.append(f"EXISTS (SELECT 1 FROM {ex.source_digests()} s "
                     f"WHERE s.kind = {KIND_CODES[k]} AND s.digest = c.digest)")
    bad = {r[0] for r in ex.con.execute(f"SELECT contact_id FROM live_check c WHERE {' OR '.join(tests)}").fetchall()}
    if bad:
        ex.notes.append(f"{len(bad)} pool {NOUNS[kind]}(s) also belong to a customer of this source or an earlier "
                        "canary: not planted")
    return [c for c in candidates if c[0] not in bad]


def _addresses_clear_of_customers(ex, candidates: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Pool addresses no row of this source has (in the writing lists share,
    forensics.normalize.sql_address_key): a letter to a customer's home would
    be a false sighting of the canary given it."""
    cols = [t.name for t in ex.types if t.kind is Kind.ADDRESS]
    keys = [(cid, k) for cid, v in candidates if (k := normalize_address(v))]
    if not cols or not keys:
        return candidates
    insert_rows(ex.con, "live_address", ["contact_id", "a"], keys, [pa.int32(), pa.string()])
    real = " UNION ALL ".join(f"SELECT {sql_address_key('src.' + qident(c))} AS a FROM src" for c in cols)
    bad = {r[0] for r in ex.con.execute(f"SELECT contact_id FROM live_address WHERE a IN ({real})").fetchall()}
    if bad:
        ex.notes.append(f"{len(bad)} pool address(es) are also a customer's address in this source: not planted")
    return [c for c in candidates if c[0] not in bad]


def assign(ex, planted: list) -> None:
    """Give the export's unique canaries unused pool contacts (phone, email,
    address), in place, each in the shape of its column; remembers which for
    ``record_uses`` and what fell short for ``warnings``. Needs ``store``
    attached. A canary the contact would push out of --where keeps its own."""
    ex.contact_uses, ex.live_warnings = [], []
    cols = _carriers(ex)
    unique = [i for i, c in enumerate(planted) if c.shared_id is None]
    if not cols or not unique:
        return
    try:
        in_pool = dict(ex.con.execute("SELECT kind, count(*) FROM store.contact_pool GROUP BY kind").fetchall())
        free = {kind: ex.con.execute(
            "SELECT contact_id, value FROM store.contact_pool p WHERE kind = ? AND NOT EXISTS "
            "(SELECT 1 FROM store.contact_uses u WHERE u.contact_id = p.contact_id) ORDER BY contact_id",
            [kind]).fetchall() for kind in cols if in_pool.get(kind)}
    except duckdb.Error:  # a store from before live canaries: no pool yet
        return
    free = {kind: _clear_of_customers(ex, kind, rows) for kind, rows in free.items()}
    available = {kind: len(rows) for kind, rows in free.items()}
    uses: list[tuple[int, int, str]] = []
    before: dict[int, dict] = {}
    for i in unique:
        row = planted[i].row
        for kind, rows in free.items():
            if rows:
                cid, value = rows.pop(0)
                before.setdefault(i, {})[cols[kind]] = row.get(cols[kind])
                row[cols[kind]] = _shaped(kind, row.get(cols[kind]), value)
                uses.append((i, cid, kind))
    ok = passing_filter(ex, [(i, planted[i].row) for i in before])
    for i, old in before.items():
        if i not in ok:
            planted[i].row.update(old)
    uses = [u for u in uses if u[0] in ok]
    if len(ok) < len(before):
        ex.notes.append(f"{len(before) - len(ok)} canaries kept synthetic contacts: the pool's would fail --where")
    ex.contact_uses = [(i, cid) for i, cid, _ in uses]
    short = []
    for kind in free:
        if available[kind] < len(unique):
            carried = sum(1 for u in uses if u[2] == kind)
            short.append(f"{len(unique) - carried} of {len(unique)} canaries carry a synthetic {NOUNS[kind]}")
    if short:
        ex.live_warnings.append("the canary pool ran out: " + ", ".join(short) + " instead of the bank's own "
                                "(tracer canary-pool add more; tracer canary-pool status shows what is left)")


def warnings(ex) -> list[str]:
    """One-line warnings for the steward about this export's live canaries."""
    return list(getattr(ex, "live_warnings", []))


def record_uses(con, ex, export_no: int) -> list[tuple[str, object]]:
    """Inside the export's transaction: which canary carries which contact."""
    uses = getattr(ex, "contact_uses", None)
    if not uses:
        return []
    taken = con.execute(f"SELECT count(*) FROM store.contact_uses WHERE contact_id IN ({', '.join('?' * len(uses))})",
                        [cid for _, cid in uses]).fetchone()[0]
    if taken:  # another export committed first with one of the same contacts: never share one
        raise TracerError(f"{taken} live canary contact(s) were taken by an export that finished first; "
                          "nothing was written: run this export again", path=str(ex.out))
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


def record_sighting(*, phone: str | None = None, email: str | None = None, address: str | None = None,
                    at: datetime | None = None, note: str | None = None, home=None,
                    now: datetime | None = None) -> Sighting:
    """Record that a live canary was contacted (called, mailed, written to at
    its address); name its export and recipient, flag a breach. An address
    matches however it is written (spaces, punctuation, full-width digits).

    Example: record_sighting(phone="13800138000", at=datetime(2027, 3, 1, 10, 0), note="insurance call")
    """
    given = [(k, v) for k, v in (("phone", phone), ("email", email), ("address", address)) if v is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of --phone, --email or --address")
    [(kind, raw)] = given
    value = _key(kind, raw)
    if value is None:
        raise UsageError(f"--{kind} is not a valid {kind}" if kind != "address" else "--address is too short to match")
    rec_at = _now(now)
    seen = at or rec_at
    h, con = _connect(home)
    try:
        pool = con.execute("SELECT contact_id, value FROM store.contact_pool WHERE kind = ? ORDER BY contact_id",
                           [kind]).fetchall()
        hit = next(((cid, v) for cid, v in pool if _key(kind, v) == value), None)
        if hit is None:
            raise TracerError(f"this {kind} is not in the canary pool (tracer canary-pool add)")
        cid, value = hit
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
