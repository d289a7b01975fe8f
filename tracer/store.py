"""The DuckDB lineage store: its schema (defined here, once) and connections.

Who received which rows and columns, when, why, on whose approval, with what
fingerprint. Real customers appear only as keyed 64-bit digests (row keys and
identity digests); canaries are synthetic and stored whole. The store records
key ids, never keys.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb

from canary.errors import StoreError, TracerError, UsageError, safe_detail

from .home import Home
from .ledger import SCHEMA as LEDGER_SCHEMA

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);
CREATE TABLE IF NOT EXISTS recipients (
    recipient_id INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE,
    kind VARCHAR,              -- vendor, department, person
    parent VARCHAR,            -- a vendor's subcontractor names its vendor
    contract_end DATE,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    source_id INTEGER PRIMARY KEY,
    kind VARCHAR NOT NULL,     -- file, sql
    location VARCHAR NOT NULL, -- path or URL without password
    content_hash VARCHAR NOT NULL,  -- xxh3-128 of the bytes read (not secret)
    key_id VARCHAR NOT NULL,   -- identity digests depend on the key
    rows BIGINT NOT NULL,
    columns VARCHAR[] NOT NULL,
    registered_at TIMESTAMP NOT NULL
);
-- Every identifier of every source row, as keyed digests: how a leaked row
-- is linked back, and how 'matches the source but no export' is recognised.
CREATE TABLE IF NOT EXISTS source_identities (
    source_id INTEGER NOT NULL,
    kind UTINYINT NOT NULL,
    digest UBIGINT NOT NULL,
    row_key UBIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS exports (
    export_no INTEGER PRIMARY KEY,
    export_id VARCHAR NOT NULL UNIQUE,
    recipient_id INTEGER NOT NULL,
    purpose VARCHAR,
    approver VARCHAR,
    authorization_ref VARCHAR, -- the approval or customer-consent reference
    retain_until DATE,         -- the recipient must delete the data by then
    created_at TIMESTAMP NOT NULL,
    source_id INTEGER NOT NULL,
    columns VARCHAR[] NOT NULL,
    where_sql VARCHAR,         -- long digit runs redacted
    rows BIGINT NOT NULL,      -- real rows, canaries excluded
    canaries INTEGER NOT NULL,
    out_path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    bytes BIGINT NOT NULL,
    key_id VARCHAR NOT NULL,
    scheme VARCHAR NOT NULL,
    params JSON NOT NULL       -- mark columns, tolerances, fraction, code
);
CREATE TABLE IF NOT EXISTS export_rows (
    export_no INTEGER NOT NULL,
    row_key UBIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS canaries (
    export_no INTEGER NOT NULL,
    canary_no INTEGER NOT NULL,
    idno_digest UBIGINT,
    phone_digest UBIGINT,
    email_digest UBIGINT,
    custno_digest UBIGINT,
    account_digest UBIGINT,
    name VARCHAR,
    row_json JSON NOT NULL,    -- the whole synthetic row, as exported
    shared_id VARCHAR          -- set for a pooled canary shared by a keyed subset of exports
);
"""

LIVE_SCHEMA = """
-- Live canaries (tracer.live): the bank's own contact points and their sightings.
CREATE TABLE IF NOT EXISTS contact_pool (
    contact_id INTEGER PRIMARY KEY,
    kind VARCHAR NOT NULL,     -- phone, email, address
    value VARCHAR NOT NULL,    -- phone, email normalised; address as written; the bank's own
    added_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS contact_uses (
    export_no INTEGER NOT NULL,
    canary_no INTEGER NOT NULL,
    contact_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sightings (
    sighting_id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL,
    seen_at TIMESTAMP NOT NULL,
    note VARCHAR,
    export_no INTEGER,
    breach BOOLEAN NOT NULL,
    reason VARCHAR,
    recorded_at TIMESTAMP NOT NULL
);
"""

_DIGITS = re.compile(r"\d(?:[\s-]?\d){5,}")  # 6+ digits, spaced or dashed as phones are written
_SQL_TEXT = re.compile(r"'((?:[^']|'')*)'")


def redact_digits(text: str | None) -> str | None:
    """Long digit runs in free text (a --where, a purpose) may be identifiers."""
    return None if text is None else _DIGITS.sub("<digits>", text)


def redact_where(where: str | None) -> str | None:
    """A --where as the lineage may keep it: a quoted value that reads as a
    person's name, ID number, phone, email or address becomes <name>, <idno>...
    (a tier or a branch stays: the audit wants to see what was selected),
    and every long digit run goes."""
    if where is None:
        return None
    from canary.kinds import Kind
    from forensics.coltypes import content_scores

    personal = (Kind.IDNO, Kind.PHONE, Kind.EMAIL, Kind.NAME, Kind.ADDRESS)

    def literal(m: re.Match) -> str:
        value = m.group(1).replace("''", "'")
        scores = content_scores([value])
        kind = next((k for k in personal if scores.get(k) == 1.0), None)
        if kind is None or scores.get(Kind.BRANCH) == 1.0:
            return m.group(0)
        return f"'<{kind.value}>'"

    return redact_digits(_SQL_TEXT.sub(literal, where))


DEFAULT_LOCK_WAIT = 30.0  # seconds; TRACER_LOCK_WAIT overrides


def lock_wait() -> float:
    """How long to wait for another tracer's write to finish: $TRACER_LOCK_WAIT
    seconds (default 30)."""
    env = os.environ.get("TRACER_LOCK_WAIT")
    if env is None or not env.strip():
        return DEFAULT_LOCK_WAIT
    try:
        value = float(env)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:
        raise UsageError("TRACER_LOCK_WAIT must be a number of seconds (0 or more)")
    return value


def connect(home: Home, *, read_only: bool = False, wait_seconds: float | None = None,
            temp_dir: Path | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory working connection with the store attached as ``store``.

    DuckDB allows one writer per file (and no reader while it writes): a
    second process waits, bounded by ``wait_seconds`` (default
    $TRACER_LOCK_WAIT or 30 s), and then gets a clear message rather than
    DuckDB's lock error.
    """
    home.require()
    scratch = temp_dir or home.work_dir
    scratch.mkdir(parents=True, exist_ok=True)
    config = {"autoinstall_known_extensions": "false", "temp_directory": str(scratch)}
    if memory_limit:  # beyond it DuckDB spills to temp_directory instead of growing
        config["memory_limit"] = memory_limit
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET enable_progress_bar = false")  # DuckDB would draw on stdout, into --json output
    try:
        attach(con, home, read_only=read_only, wait_seconds=wait_seconds)
    except BaseException:
        con.close()
        raise
    return con


def damaged(error: BaseException) -> str:
    """What to say of a store DuckDB cannot read (overwritten or truncated)."""
    return (f"the lineage store cannot be read: it is damaged or truncated ({safe_detail(error)}). "
            "Restore it from a backup, then run tracer verify")


def attach(con: duckdb.DuckDBPyConnection, home: Home, *, read_only: bool = False,
           wait_seconds: float | None = None) -> None:
    """(Re)attach the store as ``store`` on a working connection, waiting
    (bounded) while another process holds it."""
    wait = lock_wait() if wait_seconds is None else wait_seconds
    if con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = 'store'").fetchone()[0]:
        con.execute("DETACH store")
    mode = " (READ_ONLY)" if read_only else ""
    deadline = time.monotonic() + wait
    while True:
        try:
            con.execute(f"ATTACH {_sql_str(str(home.store_path))} AS store{mode}")
            return
        except duckdb.Error as e:
            # "Could not set lock on file": another process. Not "... in block at location ..."
            # of a corrupt file, which waited out the lock timeout and was called busy.
            locked = re.search(r"\block\b", str(e).lower()) is not None
            if not locked or time.monotonic() > deadline:
                if "orrupt" in str(e):
                    raise StoreError(damaged(e), path=str(home.store_path)) from None
                if locked:
                    raise StoreError(f"the lineage store is busy (another tracer is writing); waited {wait:g}s "
                                     "(set TRACER_LOCK_WAIT to wait longer)", path=str(home.store_path)) from None
                raise StoreError(f"cannot open the lineage store ({safe_detail(e)})",
                                 path=str(home.store_path)) from None
            time.sleep(0.05)


def detach(con: duckdb.DuckDBPyConnection) -> None:
    """Let other processes at the store while this one works on its own."""
    con.execute("DETACH store")


def create(home: Home) -> bool:
    """Create the store's schema (or add what an older store lacks); True if
    the store did not exist before."""
    try:
        home.root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError("the tracer home is a file, not a folder (set TRACER_HOME or --home to a folder)",
                         path=str(home.root)) from None
    except OSError as e:
        raise TracerError(f"cannot create the tracer home ({e.strerror})", path=str(home.root)) from None
    new = not home.store_path.exists()
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": "false"})
    try:
        attach(con, home)
        con.execute("USE store")
        con.execute(SCHEMA)
        con.execute(LIVE_SCHEMA)
        con.execute(LEDGER_SCHEMA)
        con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
    finally:
        con.close()
    return new


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def lineage_views(con: duckdb.DuckDBPyConnection) -> None:
    """The relations forensics reads (see forensics.lineage), as temp views
    over the attached store: forensics never learns the store's layout."""
    con.execute("""
        CREATE OR REPLACE TEMP VIEW lin_exports AS
            SELECT e.export_no, e.export_id, r.name AS recipient, e.key_id, CAST(e.params AS VARCHAR) AS params,
                   e.rows, e.columns, e.created_at, e.source_id
            FROM store.exports e JOIN store.recipients r USING (recipient_id);
        CREATE OR REPLACE TEMP VIEW lin_export_rows AS SELECT export_no, row_key FROM store.export_rows;
        CREATE OR REPLACE TEMP VIEW lin_identities AS
            SELECT i.source_id, i.kind, i.digest, i.row_key, s.key_id
            FROM store.source_identities i JOIN store.sources s USING (source_id);
        CREATE OR REPLACE TEMP VIEW lin_canaries AS SELECT * FROM store.canaries;
        CREATE OR REPLACE TEMP VIEW lin_sources AS
            SELECT source_id, kind, location, rows, key_id, registered_at FROM store.sources;
    """)
