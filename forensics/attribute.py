"""Attribution: from a leaked file to a verdict with a false-accusation probability.

leak -> read -> type columns -> identity digests (per key) -> link to source
rows and canaries -> per export: canary hits, marks read, membership ->
p-values -> Bonferroni over every export in the store -> verdict.

The lineage arrives as relations on the connection (see forensics.lineage);
this module never opens the store.

Statistics (docs/forensics.md and the design notes):
- marks: under innocence each readable cell an export marked lands on that
  export's point with probability exactly 1/q (the dither is a keyed PRF
  output independent of the leaked value), so agreements ~ Binomial(n, 1/q);
- canaries: a leak row counts as a canary by a route real people almost
  never share (CANARY_ROUTES: its phone, or an ID number with the person's
  name or email); with L unlinked leak rows and K planted canaries the
  chance hits on a route are at most Poisson(L * K * chance); a number or an
  ID number alone only locates a row (a binomial where a second piece
  matches too); the smallest p times the number of tests (canary_log_p);
- an export's tests (canaries, pooled canaries, each mark channel) rest on
  independent PRF outputs of its key, so they combine by Fisher's method,
  then are multiplied by the number of exports in the store (Bonferroni);
- a later copy, or a bank source recorded as holding the export's copy,
  may carry its fingerprints: it is then scored only on what those could
  not carry (_explain_by_later_copies).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb
import numpy as np
import pyarrow as pa

from canary.errors import UnreadableFile
from canary.kinds import IDENTIFIERS, Kind
from canary.prf import Key, identity_key

from . import fastprf, holders, markevidence, sqlprf, stats, twostage
from .coltypes import header_kind, normalise_header, type_columns
from .duck import qident
from .evidence import CanaryHit, Candidate, Verdict
from .normalize import (
    IDNO15_NAME_CODE,
    IDNO15_NAME_LABEL,
    KIND_CODES,
    identity_label,
    idno15_name_message,
    normalise_name,
    sql_idno15,
    sql_idno_recovered,
    sql_name,
    sql_normalise,
)
from .readers import read_table

#: Chance that one row of a list of real people matches one given unique
#: canary on a field. A canary is shaped like the list, so these are not
#: value-space sizes:
#: * phone: eight digits drawn after an issued prefix (canary.synth._phone);
#: * idno: the donor's region and police-station block, a birthdate within a
#:   year of the donor's, one of five sequence digits: in a dense district
#:   roster (one district, five blocks, four birth years) up to 24% of
#:   canaries' ID numbers were held by someone among 20,000 people (a review
#:   measured it): 1.2e-5 a row, 3e-5 with room;
#: * email: the name's words or the mate's letters with a birth year
#:   (john.jones@acme-corp.com, li1993@163.com); a company directory held
#:   10 of 37 canaries' addresses among 15,000 staff: 1.8e-5 a row;
#: * name: the mate's surname with common given characters (or the donor's
#:   given name and the mate's family name); the commonest full names are
#:   0.2-0.3% of people.
#: The email is made from the name (and the ID number's birth year), so the
#: two are one piece of evidence ("person": the email's chance if it matched,
#: else the name's), and any piece beyond the rarest counts at most
#: CONFIRM_CHANCE: only the phone's digits are drawn apart from the rest.
#: A customer or account number ("number") is drawn in the gaps of the
#: list's own numbering, which are the bank's other customers' numbers: it
#: only locates a row. So does any one piece alone but the phone; a located
#: row counts as the canary where a second piece matches too, by chance at
#: most CONFIRM_CHANCE (a real person holding the canary's ID or number has
#: its name with chance at most 1e-2, any other of its identifiers far less).
FIELD_CHANCE = {"phone": 1e-8, "idno": 3e-5, "email": 1e-4, "name": 1e-2}
CODE_FIELDS = frozenset({"custno", "account"})
CONFIRM_CHANCE = 2e-2
CANARY_ROWS_P = 1e-3  # a canary test at least this strong before its rows are called canaries
MARK_SAMPLE_PER_EXPORT = 5000  # readable evidence saturates long before this
# Marks are read in two stages (forensics.twostage: the rule, and a simulation of its cost)
MARK_FIRST_STAGE, MARK_READ_ON_P = twostage.FIRST_STAGE, twostage.READ_ON_P
ABSENT_MIN_READABLE = 20  # enough readable marks to say an export's fingerprint is absent
ABSENT_P = 1e-3  # marks agreeing no more than this unlikely by chance: the fingerprint is absent
MASK_CHARS = "[*＊×•●]"  # what masking (脱敏) puts in place of an identifier's digits
COINCIDENCE_SHARE = 0.05  # at most this share of rows linked on one identifier each, others differing: chance
VOUCHED_SHARE = 0.5  # of an identifier column's filled cells that must key for "unrelated" to be said

#: Share of alpha spent on the rule that keeps an earlier export accused on
#: its canaries beside a later copy made from its copy (_canaries_beyond):
#: it errs at most alpha * COPY_RULE_SHARE when the leak came from the later
#: copy, and that error is added to the earlier export's p-value.
COPY_RULE_SHARE = 0.1

#: A source whose readable marked cells carry an earlier export's marks at
#: least this often (recorded as ``params.derived_share`` by the export made
#: from it) is that export's copy, not the bank's data with its rows merged in.
COPY_SHARE = 0.8

METHOD = (
    "Marks: each export moves a keyed selection of amounts and dates onto keyed lattice points (lattice-v1). "
    "A copy that did not come from export E lands on E's point in any one cell with probability exactly 1/q "
    "(1/100 for cents, 1/10 for whole yuan, 1/4 for dates), independently across cells, so the chance of at "
    "least the observed number of agreeing cells is a binomial tail. Marks are read on up to "
    f"{MARK_SAMPLE_PER_EXPORT:,} of each export's held rows (its smallest row keys, a rule blind to every key): "
    f"first {MARK_FIRST_STAGE:,}, then all of them for exports that first read leaves at p <= {MARK_READ_ON_P}; "
    "an export is only accused on the full read, so stopping early spares exports that show no sign of their "
    "marks and never accuses one. Canaries: synthetic customers planted in one export. A leak row counts as one "
    "only by a route real people almost never share: its phone (chance at most "
    f"{FIELD_CHANCE['phone']:g} per row and canary), or an ID number with the person's name or email (at most "
    f"{FIELD_CHANCE['idno'] * CONFIRM_CHANCE:g}); each route is a Poisson tail over the leak's unlinked rows, and the "
    "smallest p is multiplied by the number of tests. A customer or account number, or an ID number alone, is "
    "held by other real people too, so it only locates a row, which counts where a second field matches as well "
    f"(at most {CONFIRM_CHANCE:g} a row, a binomial tail). "
    "Pooled canaries: an innocent export took each pooled canary found with probability at "
    "most 1/4, a binomial tail. For an innocent export these tests rest on independent keyed values of that "
    "export, so their p-values combine by Fisher's method; the combined figure is then multiplied by the number "
    "of exports in the lineage store (Bonferroni), so the printed probability bounds the chance that any "
    "innocent recipient would be accused. An accused export's fingerprints may also reach a leak through a later "
    "copy: one made from its copy (recorded at that export), or one made from another source that may have held "
    "its copy (a returned file merged into the bank's data). Such a copy carries the earlier marks wherever it did "
    "not mark a cell itself, so the earlier export is then scored only on the cells no such copy could carry "
    "(rows or columns it never had, and cells it marked itself, where the earlier point is hit with probability "
    "exactly 1/q), with its canaries only where no later copy was made from its copy; that figure is exact either "
    "way. A source of the bank's recorded as holding its copy without its canaries (the recipient's returned rows "
    "taken into the bank's own data) may itself leak through an insider: the rows it holds then count for nothing "
    "against the recipient, whose canaries still do. Beside one later copy made from its copy it also stays accused if its canaries are lopsidedly more than "
    f"that copy's (a binomial tail wrong at most {COPY_RULE_SHARE:g} alpha of the time, added to its probability). "
    "Membership (who held the rows "
    "and columns) never accuses on its own: with overlapping exports no model of innocence gives it a valid tail; it only excludes."
)


@dataclass
class _Export:
    export_no: int
    export_id: str
    recipient: str
    key_id: str
    params: dict
    columns: list[str]
    created_at: str
    source_id: int | None = None


def attribute(con: duckdb.DuckDBPyConnection, leak_path: str | os.PathLike, keyring: dict[str, Key], *,
              alpha: float = 1e-6, now: datetime | None = None, tmpdir: str | None = None,
              progress=None, mark_sample: int = MARK_SAMPLE_PER_EXPORT, mark_first_stage: int = MARK_FIRST_STAGE,
              mark_read_on_p: float = MARK_READ_ON_P) -> Verdict:
    """Attribute a leaked file. ``con`` must carry the lineage relations.
    ``progress(stage)`` is told each stage as it starts. Marks are read on
    the leak rows linked to each export's ``mark_sample`` smallest held row
    keys (a rule blind to every export's key), first on its
    ``mark_first_stage`` smallest, then on all of them where that first read
    leaves its p at or below ``mark_read_on_p`` (1.0: always read all)."""
    job = _Attribution(con, keyring, alpha, now, tmpdir)
    job.mark_sample, job.mark_first_stage, job.mark_read_on_p = mark_sample, mark_first_stage, mark_read_on_p
    job.progress = progress or (lambda stage, done=None, total=None: None)
    return job.run(leak_path)


def _file_facts(path: str) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return {"file": os.path.basename(path), "path": os.path.abspath(path), "bytes": os.path.getsize(path),
            "sha256": h.hexdigest()}


class _Attribution:
    def __init__(self, con, keyring, alpha, now, tmpdir):
        self.con, self.keyring, self.alpha, self.tmpdir = con, keyring, alpha, tmpdir
        self.now = now or datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)

    def run(self, leak_path) -> Verdict:
        con, say = self.con, self.progress
        say("reading the leak")
        self.info = read_table(con, leak_path, "leak", tmpdir=self.tmpdir)
        if self.info.rows == 0:  # "unrelated" would be a finding; there is nothing to find
            raise UnreadableFile("the leak has no rows: nothing to attribute", path=str(leak_path))
        facts = _file_facts(str(leak_path))
        facts.update({"examined_at": self.now.isoformat(), "parsed": self.info.to_dict()})
        self.leak_facts = facts
        self._type()
        self.exports = self._load_exports()
        self.n_exports = len(self.exports)
        self._export_no_by_id = {e.export_id: n for n, e in self.exports.items()}  # for _ancestors
        self._keyable_cells: dict[str, tuple[int, int]] | None = None  # _keyable
        say("linking rows to the lineage")
        self._digest_leak()
        linked, sources = self._link()
        say("looking for canaries")
        hits = self._canary_hits()
        say("finding who held these rows")
        self._holders()
        cands = self._candidates(hits, linked)
        say("reading marks", 0, len(cands))
        self._mark_evidence(cands)
        say("scoring")
        self._score(cands)
        self._explain_by_later_copies(cands)
        # Rows that are canaries: unique ones of exports whose canaries are beyond chance (a lone
        # chance twin of one must not turn "unrelated" into "canaries it planted"), pooled ones
        # (found on two pieces of evidence; shared_found holds 1-based rows too).
        canary_rows = len({h.leak_row for c in cands.values() if c.canary_log_p <= math.log(CANARY_ROWS_P)
                           for h in c.hits}.union(*self.shared_found.values()))
        return self._verdict(list(cands.values()), linked, canary_rows, sources)

    # -- reading and linking --------------------------------------------------

    def _type(self) -> None:
        names = self.info.columns
        sample = self.con.execute(
            "SELECT * FROM leak USING SAMPLE reservoir(5000 ROWS) REPEATABLE (7)").fetchall()
        self.types = type_columns(names, [[r[i] for r in sample] for i in range(len(names))])

    def _load_exports(self) -> dict[int, _Export]:
        rows = self.con.execute(
            "SELECT export_no, export_id, recipient, key_id, params, columns, CAST(created_at AS VARCHAR), "
            "source_id FROM lin_exports").fetchall()
        return {r[0]: _Export(r[0], r[1], r[2], r[3], json.loads(r[4]), list(r[5]), r[6], r[7]) for r in rows}

    def _key_ids(self) -> list[str]:
        used = {r[0] for r in self.con.execute(
            "SELECT DISTINCT key_id FROM lin_sources UNION SELECT DISTINCT key_id FROM lin_exports").fetchall()}
        return sorted(k for k in used if k in self.keyring)

    def _digest_leak(self) -> None:
        """TEMP TABLE leak_ids (__lr, kind, digest, key_id): every identifier
        form of every leak row under every key the store uses. Messages are
        normalised in SQL; the HMAC runs natively where the PRF core is built."""
        self.id_columns = [t for t in self.types if t.kind in IDENTIFIERS]
        name_col = next((t.name for t in self.types if t.kind is Kind.NAME), None)
        forms = []  # (kind code, PRF label, SQL of the message)
        for t in self.id_columns:
            col = qident(t.name)
            forms.append((KIND_CODES[t.kind], identity_label(t.kind), _message_sql(t)))
            if t.kind is Kind.IDNO and name_col:
                forms.append((IDNO15_NAME_CODE, IDNO15_NAME_LABEL,
                              idno15_name_message(sql_idno15(col), sql_name(qident(name_col)))))
        key_ids = self._key_ids()
        if forms and key_ids and fastprf.available():
            self._digest_leak_native(forms, key_ids)
            return
        arms = []
        for n, key_id in enumerate(key_ids):
            var = f"ik{n}"
            sqlprf.set_key(self.con, var, identity_key(self.keyring[key_id]))
            for code, label, msg in forms:
                arms.append(f"SELECT rowid AS __lr, CAST({code} AS UTINYINT) AS kind, "
                            f"{sqlprf.digest64(label, msg, var=var)} AS digest, '{key_id}' AS key_id FROM leak")
        body = " UNION ALL ".join(arms) if arms else \
            "SELECT NULL::BIGINT AS __lr, NULL::UTINYINT AS kind, NULL::UBIGINT AS digest, NULL::VARCHAR AS key_id"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE leak_ids AS SELECT * FROM ({body}) WHERE digest IS NOT NULL")

    def _digest_leak_native(self, forms, key_ids) -> None:
        msgs = self.con.execute("SELECT rowid AS __lr" + "".join(f", {msg} AS m{i}" for i, (_, _, msg) in enumerate(forms))
                                + " FROM leak").to_arrow_table()
        parts = []
        for n, key_id in enumerate(key_ids):
            keys = fastprf.Keys([identity_key(self.keyring[key_id])])
            for i, (code, label, _) in enumerate(forms):
                digest = fastprf.digest64(keys, label, msgs.column(f"m{i}"))
                part = pa.table({"__lr": msgs.column("__lr"), "digest": digest}).filter(digest.is_valid())
                parts.append(part.append_column("kind", pa.array(np.full(part.num_rows, code, np.uint8)))
                             .append_column("key_no", pa.array(np.full(part.num_rows, n, np.int32))))
        names = ", ".join("'" + k.replace("'", "''") + "'" for k in key_ids)
        self.con.register("__leak_ids", pa.concat_tables(parts))
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE leak_ids AS SELECT __lr, kind, digest, "
                         f"[{names}][key_no + 1] AS key_id FROM __leak_ids")
        self.con.unregister("__leak_ids")

    def _link(self) -> tuple[int, list[dict]]:
        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE links AS
            SELECT DISTINCT l.__lr, i.row_key, i.source_id
            FROM leak_ids l JOIN lin_identities i ON i.digest = l.digest
            WHERE i.kind = l.kind AND i.key_id = l.key_id""")  # one 64-bit hash key: a fifth faster than three
        linked = self.con.execute("SELECT count(DISTINCT __lr) FROM links").fetchone()[0]
        sources = [{"source_id": r[0], "location": r[1], "linked_rows": r[2]} for r in self.con.execute("""
            SELECT s.source_id, s.location, count(DISTINCT k.__lr) FROM links k JOIN lin_sources s USING (source_id)
            GROUP BY ALL ORDER BY 3 DESC""").fetchall()]
        return linked, sources

    def _canary_hits(self) -> dict[int, list[CanaryHit]]:
        """Canary hits on rows that link to no real customer, by export.

        Unique canaries are returned per export; pooled canaries are collected
        in ``self.shared_found`` (pool id -> leak rows) with their holders in
        ``self.shared_holders`` (pool id -> exports that took them).
        """
        self.shared_found: dict[str, set[int]] = defaultdict(set)
        self.shared_holders: dict[str, set[int]] = {}
        self.located: dict[int, list[int]] = defaultdict(list)  # see below
        self.unlinked_rows = self.con.execute(
            "SELECT count(*) FROM leak WHERE rowid NOT IN (SELECT __lr FROM links)").fetchone()[0]
        name_col = next((t.name for t in self.types if t.kind is Kind.NAME), None)
        arms = []
        for kind, field in ((Kind.IDNO, "idno"), (Kind.PHONE, "phone"), (Kind.EMAIL, "email"),
                            (Kind.CUSTNO, "custno"), (Kind.ACCOUNT, "account")):
            arms.append(f"""SELECT l.__lr, c.export_no, c.canary_no, '{field}' AS field, c.name, c.shared_id
                FROM leak_ids l JOIN lin_canaries c ON c.{field}_digest = l.digest
                JOIN lin_exports e ON e.export_no = c.export_no AND e.key_id = l.key_id
                WHERE l.kind = {KIND_CODES[kind]} AND l.__lr NOT IN (SELECT __lr FROM links)""")
        rows = self.con.execute(" UNION ALL ".join(arms)).fetchall()
        if not rows:
            return {}
        names = {}
        if name_col:
            lrs = sorted({r[0] for r in rows})
            names = dict(self.con.execute(
                f"SELECT rowid, {sql_name(qident(name_col))} FROM leak WHERE rowid IN ({', '.join(map(str, lrs))})").fetchall())
        grouped: dict[tuple[int, int, int], set[str]] = defaultdict(set)
        pooled: dict[tuple[str, int], set[str]] = defaultdict(set)
        for lr, eno, cno, field, cname, shared in rows:
            fields = pooled[(shared, lr)] if shared is not None else grouped[(eno, cno, lr)]
            fields.add(field)
            if cname and names.get(lr) and names[lr] == normalise_name(cname):
                fields.add("name")
        # A pooled canary counts as found only on two fields (an identifier and the name, or
        # two identifiers): one identifier alone may be a new customer's by chance (an ID
        # number or a customer number drawn within the list's range), and a pooled find
        # excludes every export that did not take it.
        for (shared, lr), fields in pooled.items():
            pieces = _evidence_pieces(fields)
            if len(pieces) >= 2 and set(pieces) - {"number"}:  # two pieces, not only one person's numbers
                self.shared_found[shared].add(lr + 1)
        if self.shared_found:
            ids = ", ".join("'" + k.replace("'", "''") + "'" for k in self.shared_found)
            for sid, eno in self.con.execute(
                    f"SELECT DISTINCT shared_id, export_no FROM lin_canaries WHERE shared_id IN ({ids})").fetchall():
                self.shared_holders.setdefault(sid, set()).add(eno)
        # A unique canary matched on its phone, or its ID number and its person, is found
        # (a Poisson test per route); on any other one piece of evidence it only locates a
        # row (self.located: export -> canary of each such pair), and counts as found where
        # a second piece matches too (canary_evidence).
        out: dict[int, list[CanaryHit]] = defaultdict(list)
        for (eno, cno, lr), fields in grouped.items():
            how, chance = canary_evidence(fields)
            if locates_only(fields):
                self.located[eno].append(cno)
            if how != "located":
                out[eno].append(CanaryHit(cno, lr + 1, sorted(fields), chance))
        return out

    def _holders(self) -> None:
        """Which exports held which linked rows (forensics.holders), with the
        rows whose marks are read for each."""
        self.holdings = holders.sweep(self.con, "links", "lin_export_rows", self.exports,
                                      per_export=min(self.mark_first_stage, self.mark_sample))

    def _candidates(self, hits, linked) -> dict[int, Candidate]:
        held = self.holdings.held_rows()
        cands: dict[int, Candidate] = {}
        shared_holders = set().union(*self.shared_holders.values()) if self.shared_holders else set()
        for eno in set(held) | set(hits) | shared_holders:
            e = self.exports.get(eno)
            if e is None:
                continue
            c = Candidate(eno, e.export_id, e.recipient, e.created_at, planted=int(e.params.get("canaries", 0)))
            c.hits = sorted(hits.get(eno, []), key=lambda h: h.leak_row)
            c.share_probability = float(e.params.get("share_probability", 0.0))
            c.shared_found = len(self.shared_found)
            c.shared_held = sorted(k for k, takers in self.shared_holders.items() if eno in takers)
            c.linked_rows, c.held_rows = linked, int(held.get(eno, 0))
            self._membership_columns(c, e)
            cands[eno] = c
        return cands

    def _membership_columns(self, c: Candidate, e: _Export) -> None:
        exported = {normalise_header(n) for n in e.columns}
        kinds = {k for k in e.params.get("column_kinds", {}).values()}
        for t in self.types:
            if normalise_header(t.name) in exported or (t.kind is not Kind.OTHER and t.kind.value in kinds):
                c.columns_explained.append(t.name)
            elif t.kind is not Kind.OTHER:
                c.columns_unexplained.append(t.name)

    # -- marks ----------------------------------------------------------------

    def _mark_evidence(self, cands: dict[int, Candidate]) -> None:
        """Marks in two stages (MARK_FIRST_STAGE): the first rows of every
        export's sample, then the whole sample of the exports the first read
        (with their other tests) leaves at p <= MARK_READ_ON_P. Stopping only
        exports that look innocent cannot accuse anyone the full read would
        not (a futility stop): continued exports are scored on the full read,
        stopped ones have p > MARK_READ_ON_P and > alpha, so are not accused."""
        self.mark_reader = reader = markevidence.MarkReader(self.con, self.holdings, self.exports, self.keyring,
                                                            self.types, self.info.rows, self.mark_sample)
        first = min(self.mark_first_stage, self.mark_sample)
        reader.read(cands, rows=first)
        self._score(cands)
        more = {eno: c for eno, c in cands.items()
                if reader.sampled(eno) > first and c.log_p_raw <= math.log(max(self.mark_read_on_p, self.alpha))}
        if more:
            self.progress("reading more marks", 0, len(more))
            for c in more.values():
                c.marks.clear()
                c.erased_columns.clear()
            reader.read(more)

    # -- scoring and verdict --------------------------------------------------

    def _score(self, cands: dict[int, Candidate]) -> None:
        """One scale for every family: each test's p-value, combined by Fisher's
        method. Valid because, for an innocent export, each test depends on
        different PRF outputs of that export (dithers and selections of its
        marks, its unique canaries' identities, its coins for pooled canaries),
        which are independent of each other and of the leak."""
        shared_total = len(self.shared_found)
        for c in cands.values():
            tests = []
            if c.planted and self.unlinked_rows:
                c.canary_lambda, c.canary_log_p = self._canary_tail(c)
                tests.append(c.canary_log_p)
            if shared_total and c.share_probability > 0:
                c.shared_log_p = stats.log_binom_sf(len(c.shared_held), shared_total, c.share_probability)
                tests.append(c.shared_log_p)
            channels = [m.log_p for m in c.marks if m.readable > 0]
            if channels:
                c.marks_log_p = stats.fisher(channels)
            tests.extend(channels)
            c.tests = len(tests)
            c.log_p_raw = stats.fisher(tests) if tests else 0.0
            c.log_p = stats.bonferroni(c.log_p_raw, max(1, self.n_exports))
            c.accused = c.log_p <= math.log(self.alpha)
            c.excluded = None if c.accused else self._exclusion(c)

    def _keyable(self) -> dict[str, tuple[int, int]]:
        """Per identifier column of the leak: (cells that normalise to an
        identifier and show no masking, filled cells). A masked column
        (110105********002X, 138****8000, 622848*********9979) keys nothing;
        a customer number's normal form takes any text, masks included. Read
        only when nothing links (the verdict's question), once."""
        if self._keyable_cells is None:
            self._keyable_cells = {}
            if self.id_columns:
                got = self.con.execute("SELECT " + ", ".join(
                    f"count(nullif(trim({qident(t.name)}), '')), "
                    f"count(CASE WHEN NOT regexp_matches({qident(t.name)}, '{MASK_CHARS}') THEN {_message_sql(t)} END)"
                    for t in self.id_columns) + " FROM leak").fetchone()
                self._keyable_cells = {t.name: (got[2 * i + 1], got[2 * i]) for i, t in enumerate(self.id_columns)}
        return self._keyable_cells

    def _vouched_identifier(self, t) -> bool:
        """An identifier column whose kind its values prove (ID numbers, phones,
        emails validate) or its header names, and most of whose filled cells
        normalise to an identifier: only such a column lets "nothing links"
        mean "not this bank's data". A column of distinct codes typed as a
        customer number by its shape alone may be an order number; a column
        named 身份证号 of masked numbers keys nothing (a review found a masked
        copy of an export called "unrelated")."""
        if not (t.kind in (Kind.IDNO, Kind.PHONE, Kind.EMAIL)
                or (t.kind in IDENTIFIERS and header_kind(t.name) == t.kind)):
            return False
        keyed, filled = self._keyable().get(t.name, (0, 0))
        return filled > 0 and keyed >= VOUCHED_SHARE * filled

    def _canary_tail(self, c: Candidate, carried: set[int] = frozenset()) -> tuple[float, float]:
        """(expected chance matches, log p) of c's canaries found in the leak,
        those in ``carried`` left out (canary_log_p)."""
        routes: dict[str, set[int]] = defaultdict(set)
        for h in c.hits:
            if h.canary_no not in carried:
                for route in canary_routes(h.fields):
                    routes[route].add(h.canary_no)
        located = sum(1 for k in self.located.get(c.export_no, ()) if k not in carried)
        return canary_log_p({r: len(nos) for r, nos in routes.items()}, self.unlinked_rows, c.planted, located)

    def _ancestors(self, export_no: int) -> set[int]:
        """Exports this one was made from, directly or through others (recorded
        at export time as ``params.derived_from``: its source was their copy)."""
        by_id = self._export_no_by_id
        seen: set[int] = set()
        todo = [export_no]
        while todo:
            e = self.exports.get(todo.pop())
            for parent in (e.params.get("derived_from", []) if e else []):
                n = by_id.get(parent)
                if n is not None and n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen

    def _explain_by_later_copies(self, cands: dict[int, Candidate]) -> None:
        """An accused export's fingerprints may have reached the leak through a
        later copy: one recorded as made from its copy (directly or through
        others; its canaries came along too), or one made from another source
        that may have held its copy unrecognised (a returned file merged into
        the bank's data; _may_carry says which may be in the leak). Such a
        copy carries the earlier marks in every cell it did not mark itself.
        The earlier export stays accused on its own marks, the cells none of
        those copies could carry (MarkReader.own_marks), with its canaries
        where no later copy was made from its copy: that figure is exact
        whether or not a later copy is the origin, so it replaces the earlier
        one with no rule error. Failing that, beside one recorded later copy
        it stays accused if its canaries are lopsidedly more than that copy's
        (_canaries_beyond, wrong at most alpha * COPY_RULE_SHARE, which is
        added to its p-value). Otherwise it is not accused: excluded where an
        accused later copy explains it, ambiguous where the later copies are
        merely plausible."""
        heirs: dict[int, list[Candidate]] = {}
        for d in cands.values():
            for a in self._ancestors(d.export_no):
                heirs.setdefault(a, []).append(d)
        was_accused = {n for n, c in cands.items() if c.accused}  # fingerprints present, judged before any change
        carriers = sorted(b for b, d in cands.items() if self._may_carry(d))
        reader = getattr(self, "mark_reader", None)
        kin = self._kin_holdings(was_accused) if reader is not None else {}
        for n in sorted(was_accused):
            c, e = cands[n], self.exports[n]
            # A copy made from its copy counts unless its fingerprint shows it is not in the leak
            # (an exclusion such as "held only 8 of the 10 rows" says only that it is not all of it).
            weighed = [d for d in heirs.get(n, []) if d.export_no in was_accused or d.excluded is None
                       or d.export_no in carriers]
            copies = {d.export_no for d in weighed}
            descendants = {d.export_no for d in heirs.get(n, [])}  # made from its copy: weighed above
            # Later exports of another source that may hold its copy: those that may carry, and those
            # holding some leak row's customer under another row key (no reading can vouch for them).
            others = [b for b in sorted(set(carriers) | set(kin)) if b > n and b not in descendants
                      and self.exports[b].source_id != e.source_id]
            # The bank's own sources recorded as holding its copy (a returned file that became the
            # bank's data), where they hold leak rows: an insider's copy of one carries its marks too.
            held_by_sources = self._copy_sources(n)
            if not weighed and not others and not held_by_sources:
                continue
            later = sorted(copies | set(others))
            kin_only = frozenset(b for b in others if b not in carriers)  # their other rows are not in the leak
            source_rows = (np.unique(np.concatenate([self._source_rows(set(held_by_sources))[s]
                                                     for s in held_by_sources]))
                           if held_by_sources else None)
            own = (reader.own_marks(n, later, kin, kin_only, source_rows)
                   if reader is not None and c.marks else None) or []
            tests = [m.log_p for m in own if m.readable > 0]
            # Its canaries that no later copy received (a copy made from its copy took them
            # along as rows, and a source made from its copy kept those the export made from it
            # records): only chance, bounded as before, puts them in that copy's leak.
            carried = self._carried_canaries(c, later + [d for ds in held_by_sources.values() for d in ds])
            own_hits = [h for h in c.hits if h.canary_no not in carried]
            if own_hits and c.planted and self.unlinked_rows:
                tests.append(self._canary_tail(c, carried)[1])
            if not weighed and not held_by_sources and len(self.shared_found) and c.share_probability > 0:
                tests.append(c.shared_log_p)  # pooled canaries ride along in copies made from its copy
            log_p = stats.bonferroni(stats.fisher(tests), max(1, self.n_exports)) if tests else 0.0
            c.own_marks, c.later_sources = own, [self.exports[b].export_id for b in later]
            c.copy_sources = [self._source_location(s) for s in sorted(held_by_sources)]
            c.own_canaries = len({h.canary_no for h in own_hits})
            if log_p <= math.log(self.alpha):
                c.log_p = max(c.log_p, log_p)
                continue
            each = self.alpha * COPY_RULE_SHARE
            if len(weighed) == 1 and not others and _canaries_beyond(c, weighed[0], each):
                # Kept accused by the canary rule: its error joins its p-value (and may undo the accusation).
                c.copy_rule_error = each
                c.log_p = math.log(min(1.0, stats.to_p(c.log_p) + each))
                c.accused = c.log_p <= math.log(self.alpha)
                if c.accused:
                    continue
            c.accused = False
            c.explained_by = list(c.later_sources)
            c.excluded = _explained_because(own, [d for d in weighed if d.export_no in was_accused],
                                            [cands[b] for b in others if b in was_accused])
            # (a source holding its copy leaves it merely plausible: ambiguous with the bank's own data)

    def _copy_sources(self, export_no: int) -> dict[int, list[int]]:
        """The bank's own data holding this export's copy: registered sources
        that an export made from them recorded as made from its copy
        (``params.derived_from``) but not as the copy itself, and that hold
        leak rows: source id -> those exports. The copy itself is its file, or
        a source whose readable marked cells nearly all carry its marks
        (``params.derived_share`` >= COPY_SHARE: a warehouse exporting what it
        received), whose leak is that recipient's. Anything less (or not
        recorded) may be the bank's data with the recipient's returned rows
        merged in, canaries and all, which an insider may leak."""
        export_id, own_source = self.exports[export_no].export_id, self.exports[export_no].source_id
        by_source: dict[int, list[int]] = defaultdict(list)
        for d, e in self.exports.items():
            if e.source_id != own_source and export_id in e.params.get("derived_from", []):
                by_source[e.source_id].append(d)
        if not by_source:
            return {}
        rows = self._source_rows(set(by_source))
        return {s: ds for s, ds in by_source.items() if s in rows and not any(
            self.exports[d].params.get("derived_share", {}).get(export_id, 0.0) >= COPY_SHARE for d in ds)}

    def _source_rows(self, sources: set[int] | None = None) -> dict[int, np.ndarray]:
        """Leak rows (0-based) each registered source holds a customer of:
        linked to it, or to a row key sharing any identifier digest with one
        of its rows (the source keyed the customer another way: returned ID
        numbers a spreadsheet mangled, say). Read once, for ``sources``."""
        if not hasattr(self, "_rows_by_source"):
            self._rows_by_source = {}
        want = sorted((sources or set()) - set(self._rows_by_source))
        if want:
            listed = ", ".join(str(int(s)) for s in want)
            got = dict(self.con.execute(f"""
                SELECT b.source_id, list(DISTINCT l.__lr) FROM links l
                JOIN lin_identities a ON a.row_key = l.row_key
                JOIN lin_identities b ON b.kind = a.kind AND b.digest = a.digest AND b.key_id = a.key_id
                WHERE b.source_id IN ({listed}) GROUP BY 1""").fetchall())  # a direct link shares a digest too
            for s in want:
                self._rows_by_source[s] = np.unique(np.asarray(got.get(s, []), np.int64))
        return {s: r for s, r in self._rows_by_source.items() if len(r)}

    def _source_location(self, source_id: int) -> str:
        row = self.con.execute("SELECT location FROM lin_sources WHERE source_id = ?", [source_id]).fetchone()
        return f"source {source_id} ({row[0]})" if row else f"source {source_id}"

    def _kin_holdings(self, accused: set[int]) -> dict[int, np.ndarray]:
        """Later exports of another source than an accused export's that held
        a leak row's customer under a row key the leak does not link to (the
        later source had the row's ID number mangled, so keyed it by customer
        number, while the leak's ID links only to the earlier source's key):
        export -> indices into the leak's linked keys. Two row keys are one
        customer where they share any identifier digest (a shared phone makes
        two customers one here, which only spares an earlier export). Read
        only where such later exports exist: it scans the identities twice."""
        later = sorted({b for n in accused for b, e in self.exports.items()
                        if b > n and e.source_id != self.exports[n].source_id})
        if not later or not len(self.holdings.keys):
            return {}
        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE __kin AS
            SELECT DISTINCT a.row_key AS k, b.row_key AS other
            FROM lin_identities a JOIN lin_identities b
              ON a.kind = b.kind AND a.digest = b.digest AND a.key_id = b.key_id
            WHERE a.row_key IN (SELECT row_key FROM links) AND b.row_key <> a.row_key""")
        rows = self.con.execute(f"""
            SELECT r.export_no, list(DISTINCT x.k) FROM __kin x JOIN lin_export_rows r ON r.row_key = x.other
            WHERE r.export_no IN ({', '.join(map(str, later))}) GROUP BY 1""").fetchall()
        self.con.execute("DROP TABLE __kin")
        out = {}
        for b, ks in rows:
            at = self.holdings.key_indices(np.asarray(ks, np.uint64))
            if len(at):
                out[int(b)] = at
        return out

    def _carried_canaries(self, c: Candidate, later: list[int]) -> set[int]:
        """c's canaries found in the leak that a later export in ``later``
        received among its source's rows (recorded at that export as
        ``params.carried_canaries``); all of them where a later export made
        from c's copy predates that record."""
        nos = {h.canary_no for h in c.hits}
        carried: set[int] = set()
        for b in later:
            params = self.exports[b].params
            if "carried_canaries" in params:
                carried.update(params["carried_canaries"].get(c.export_id, []))
            elif c.export_no in self._ancestors(b):
                return nos
        return carried & nos

    def _may_carry(self, d: Candidate) -> bool:
        """Could rows of d's copy be in the leak? Not if d held none of them
        or its fingerprint is absent. A copy that is in the leak carries d's
        marks in nearly every readable cell d marked (a cell whose source
        value was too close to a channel's edge to be moved reads at random),
        and at least in every column a leaker left alone; an innocent copy
        agrees with a cell with chance 1/q. So where d's readable cells are
        too few for the absence test, d counts only if none are readable or
        in some channel at least half of them agree: a small leak of another
        recipient's copy then keeps most of that recipient's evidence."""
        if not d.held_rows or self._fingerprint_absent(d):
            return False
        known = d.absence_marks  # channels whose disagreement can count against it
        if not known or sum(m.readable for m in known) >= ABSENT_MIN_READABLE:
            return True
        return any(2 * m.agree >= m.readable for m in d.marks if m.readable)  # any channel's agreement counts

    def _fingerprint_absent(self, c: Candidate) -> bool:
        """Enough of its marks were readable, and they agree no more than chance
        would: neither its copy nor a merge that includes its copy. Only on
        channels where the export recorded the cells it selected but wrote
        unmarked (those are left out of the reading): a cell it never marked
        agrees by chance in its own copy too. Agreement on any channel, those
        too, still shows it present."""
        read = c.absence_marks
        return (sum(m.readable for m in read) >= ABSENT_MIN_READABLE
                and stats.fisher([m.log_p for m in read]) > math.log(ABSENT_P)
                and c.marks_log_p > math.log(ABSENT_P)
                and not self._canary_present(c))

    def _canary_present(self, c: Candidate) -> bool:
        """Rows of c's copy (or of a copy made from it) are surely in the leak:
        its unique canaries beyond chance, or a pooled canary found that no
        other export took (canaries are in no source: someone who held it
        let that row out). Its marks may still read at chance when its rows
        are a few among many, which must not read as its copy being absent."""
        if c.hits and c.canary_log_p <= math.log(CANARY_ROWS_P):
            return True
        return any(self.shared_holders.get(k) == {c.export_no} for k in c.shared_held)

    def _exclusion(self, c: Candidate) -> str | None:
        if c.columns_unexplained:
            return f"never received column(s) {', '.join(c.columns_unexplained)}"
        if c.shared_found and len(c.shared_held) < c.shared_found:
            return (f"never received {c.shared_found - len(c.shared_held)} of the {c.shared_found} pooled canaries "
                    "in the leak (synthetic customers that only some exports of the source received)")
        if self._fingerprint_absent(c):
            read = c.absence_marks
            chance = sum(m.readable / m.q for m in read)
            # What was read is a sample of the leak's cells: a few of its rows among many others can
            # go unseen, so the words say what the cells show, not that none of its rows are there.
            return (f"its fingerprint is absent: {sum(m.agree for m in read)} of {sum(m.readable for m in read)} "
                    f"readable marked cells carry its marks, as chance alone gives ({chance:.0f} expected), where "
                    "its copy, or a merge holding it, would carry most (a few of its rows among many others "
                    "would not show)")
        if c.linked_rows and c.held_rows < 0.9 * c.linked_rows:
            return f"held only {c.held_rows} of the {c.linked_rows} linked rows"
        return None

    def _merge_explains(self, cands: list[Candidate]) -> list[Candidate]:
        """Recipients whose copies together hold the leak's linked rows and
        its pooled canaries, and whose fingerprints are not absent: possibly
        a merge of their copies."""
        partial = [c for c in cands if not c.accused and not c.columns_unexplained
                   and (c.held_rows or c.shared_held) and not self._fingerprint_absent(c)]
        if len(partial) < 2:
            return []
        linked = partial[0].linked_rows
        rows = not linked or self.holdings.covered(c.export_no for c in partial) >= 0.9 * linked
        pooled = set(self.shared_found) <= set().union(*(c.shared_held for c in partial))
        return partial if (linked or self.shared_found) and rows and pooled else []

    def _only_coincidences(self) -> bool:
        """Whether every linked leak row matches the customers it links to on
        one identifier only while it carries another (a phone, an ID number
        with the name) that differs: another list's people who share a
        number with this bank's, not its rows (a review's list from another
        bank read "ambiguous between" the one recipient, on 2 rows of 500)."""
        matched, weak = self.con.execute("""
            WITH few AS (SELECT * FROM leak_ids WHERE __lr IN (SELECT __lr FROM links)),
            matched AS (SELECT l.__lr, i.row_key, i.source_id, count(DISTINCT l.kind) AS kinds
                        FROM few l JOIN lin_identities i ON i.digest = l.digest
                        WHERE i.kind = l.kind AND i.key_id = l.key_id GROUP BY ALL),
            best AS (SELECT __lr, max(kinds) AS kinds FROM matched GROUP BY __lr),
            carried AS (SELECT __lr, count(DISTINCT kind) AS kinds FROM few GROUP BY __lr)
            SELECT count(*), count(*) FILTER (WHERE b.kinds = 1 AND c.kinds >= 2)
            FROM best b JOIN carried c USING (__lr)""").fetchone()
        return matched > 0 and weak == matched

    def _verdict(self, cands: list[Candidate], linked: int, canary_rows: int, sources: list[dict]) -> Verdict:
        cands.sort(key=lambda c: (not c.accused, c.log_p, -c.held_rows, c.export_no))
        accused = [c for c in cands if c.accused]
        rows = self.info.rows
        if accused:
            verdict = "accused"
            if len(accused) == 1:
                c = accused[0]
                summary = (f"The leak came from {c.recipient}: export {c.export_id} (false-accusation probability "
                           f"{_fmt_p(c.p_value, c.log_p)}, corrected for {self.n_exports} exports).")
            else:  # each accused on its own evidence: each with its own export and probability
                each = "; ".join(f"{c.recipient}: export {c.export_id} ({_fmt_p(c.p_value, c.log_p)})"
                                 for c in accused)
                summary = (f"The leak came from {len(accused)} exports (a merge of their copies?): {each}; "
                           f"each a false-accusation probability corrected for {self.n_exports} exports.")
        elif linked == 0 and canary_rows == 0 and not any(self._vouched_identifier(t) for t in self.types):
            verdict = "unlinkable"
            summary = (f"None of the {rows} rows can be linked: the leak has no identifier column that its "
                       "values or header vouch for (ID number, phone, customer number, email or account) and "
                       "whose values are whole (not masked like 110105********002X), which linking rows, reading "
                       "marks and finding canaries all need. Whether it came from this bank's data cannot be "
                       "told. Nobody is accused.")
        elif linked == 0 and canary_rows == 0:
            verdict = "unrelated"
            summary = (f"None of the {rows} rows links to any customer of any recorded source or export, and no "
                       "canary is present: this list did not come from this bank's recorded data.")
        elif canary_rows == 0 and linked <= COINCIDENCE_SHARE * rows and self._only_coincidences():
            verdict = "unrelated"
            summary = (f"None of the {rows} rows is a customer of this bank's recorded data: {linked} share one "
                       "identifier each with a customer while their other identifiers differ (another person "
                       "sharing a number, as happens between any two large lists), and no canary is present: "
                       "this list did not come from this bank's recorded data.")
        else:
            plausible = [c for c in cands if c.excluded is None]
            merged = [] if plausible else self._merge_explains(cands)
            if merged:
                verdict = "ambiguous"
                names = _unique(c.recipient for c in merged)
                summary = (f"{linked} of {rows} rows are this bank's customers; no single copy explains them but "
                           f"together the copies of {', '.join(names)} do (a merge of copies?). No fingerprint "
                           f"is strong enough to accuse anyone.")
            elif plausible:
                verdict = "ambiguous"
                names = _unique(c.recipient for c in plausible)
                summary = (f"{linked} of {rows} rows are this bank's customers"
                           + (f" and {canary_rows} are canaries it planted" if canary_rows else "")
                           + ", but no fingerprint separates "
                           f"the recipients who held them: ambiguous between {', '.join(names)} "
                           f"(or someone with access to the source). Nobody is accused.")
            elif canary_rows:  # canaries are never in the source: these rows came through exports
                verdict = "ambiguous"
                summary = (f"{canary_rows} of {rows} rows are canaries this bank planted in its exports, so the "
                           "leak came from exported copies, but no export or merge of them explains it (see "
                           "evidence). Nobody is accused.")
            else:
                verdict = "source"
                summary = (f"{linked} of {rows} rows match this bank's source data, but no export explains them: "
                           "every recipient who held these rows is excluded (see evidence). The rows were most "
                           "likely taken from the source directly, not from an export (a few rows of an export "
                           "mixed among many others would not show). Nobody is accused.")
                if sum(1 for c in cands if c.excluded and self._fingerprint_absent(c)) >= 2:
                    summary += (" (So would copies merged with every cell where they differ overwritten: "
                                "marks erased read as absent.)")
        leak_cols = [t.to_dict() for t in self.types]
        return Verdict(verdict, summary, self.alpha, self.n_exports, self.leak_facts, leak_cols, rows, linked,
                       canary_rows, sources, cands, METHOD)


def _message_sql(t) -> str:
    """SQL of a leak identifier column's normalised value: the message its
    identity digest keys (an ID number with a lost check character recovered)."""
    col = qident(t.name)
    return sql_idno_recovered(col) if t.kind is Kind.IDNO else sql_normalise(t.kind, col)


def _evidence_pieces(fields) -> dict[str, float]:
    """The independent pieces of evidence among matched ``fields``, with each
    one's chance (FIELD_CHANCE): phone, idno, person (email and name: one is
    made from the other) and number (customer or account: chance 1)."""
    fields = set(fields)
    pieces = {f: FIELD_CHANCE[f] for f in ("phone", "idno") if f in fields}
    if "email" in fields or "name" in fields:
        pieces["person"] = FIELD_CHANCE["email" if "email" in fields else "name"]
    if fields & CODE_FIELDS:
        pieces["number"] = 1.0
    return pieces


#: The routes by which a leak row counts as a unique canary, each with the
#: pieces of evidence it needs (_evidence_pieces) and its chance per (row,
#: canary) pair: the phone's digits are drawn apart from the rest, so a person
#: matching beside the phone counts (at most CONFIRM_CHANCE); an ID number with
#: the person likewise. Each route is its own Poisson test (canary_log_p).
CANARY_ROUTES = {"phone": ({"phone"}, FIELD_CHANCE["phone"]),
                 "phone+person": ({"phone", "person"}, FIELD_CHANCE["phone"] * CONFIRM_CHANCE),
                 "idno+person": ({"idno", "person"}, FIELD_CHANCE["idno"] * CONFIRM_CHANCE)}


def canary_routes(fields) -> list[str]:
    """Every test a canary matched on ``fields`` counts in (canary_log_p): the
    routes of CANARY_ROUTES whose pieces it has; else "confirmed" where one
    piece of evidence or a number locates the row and another piece matches
    too; none on one piece alone, which another person may hold."""
    pieces = set(_evidence_pieces(fields))
    routes = [route for route, (needs, _) in CANARY_ROUTES.items() if needs <= pieces]
    return routes or (["confirmed"] if len(pieces) >= 2 else [])


def canary_evidence(fields) -> tuple[str, float | None]:
    """How a leak row matching a unique canary on ``fields`` counts: the
    rarest of its canary_routes with that route's chance per (row, canary)
    pair (CONFIRM_CHANCE for "confirmed"); "located" (None) where it has none."""
    chances = [(CANARY_ROUTES[r][1] if r in CANARY_ROUTES else CONFIRM_CHANCE, r) for r in canary_routes(fields)]
    if not chances:
        return "located", None
    chance, route = min(chances)
    return route, chance


def locates_only(fields) -> bool:
    """A match the located rows' binomial counts (canary_log_p): no route of
    CANARY_ROUTES, only "confirmed" or nothing."""
    return not any(r in CANARY_ROUTES for r in canary_routes(fields))


def canary_log_p(found: dict[str, int], rows: int, planted: int, located: int) -> tuple[float, float]:
    """(expected chance matches, log p) of one export's unique canaries in a
    list of ``rows`` unmatched rows. ``found``: per route of CANARY_ROUTES,
    the distinct canaries matched with (at least) that route's pieces, each a
    Poisson tail (every row against every canary planted at the route's
    chance); ``found["confirmed"]`` of the ``located`` rows matched a second
    piece, a binomial. The smallest p, times the number of tests (whichever
    has finds: any could have)."""
    expected, tails = 0.0, [0.0]
    for route, (_, chance) in CANARY_ROUTES.items():
        if found.get(route):
            expected += rows * planted * chance
            tails.append(stats.log_poisson_sf(found[route], rows * planted * chance))
    expected += located * CONFIRM_CHANCE
    if found.get("confirmed"):
        tails.append(stats.log_binom_sf(found["confirmed"], located, CONFIRM_CHANCE))
    return expected, min(0.0, min(tails) + math.log(len(CANARY_ROUTES) + 1))


def _explained_because(own, copies: list[Candidate], others: list[Candidate]) -> str | None:
    """Why an accused export's fingerprints do not count: accused later
    ``copies`` made from its copy, accused ``others`` made from another
    source, and its ``own`` marks (the cells none could carry). None where
    no accused later copy explains it: merely plausible ones (ambiguous)."""
    parts = []
    if copies:
        via = ", ".join(f"export {d.export_id} to {d.recipient}" for d in copies)
        parts.append(f"its fingerprints are in the leak because later exports were made from its copy, directly "
                     f"or through others (recorded at those exports): {via}; the leak does not carry this "
                     "export's marks or canaries clearly beyond what those copies carry.")
    if others:
        via = ", ".join(f"export {d.export_id} to {d.recipient}" for d in others)
        parts.append(f"its marks are in the leak, but a later export made from another source can explain them: "
                     f"{via}. That source may have held this recipient's copy (a returned file merged into the "
                     "bank's data), and that export's copy then carries these marks wherever it did not mark the "
                     "cell itself.")
    if not parts:
        return None
    agree, readable = sum(m.agree for m in own), sum(m.readable for m in own)
    if readable:
        parts.append(f"In the cells no such copy could carry, {agree} of {readable} readable ones carry this "
                     "export's marks: not enough to accuse it.")
    return " ".join(parts)


def _canaries_beyond(c: Candidate, d: Candidate, p_max: float) -> bool:
    """Are earlier export c's unique canaries in the leak while those of d, a
    later copy made from c's, are too few to be rows of d's copy? Every canary
    of c in d's copy is a row of it like d's own, so rows taken from d's copy
    carry the two in proportion to their numbers planted (c's at most: d's
    filter may have left some out, which only makes this test more cautious).
    A binomial lower tail for d's share at most p_max: d does not explain c."""
    found_c, found_d = len({h.canary_no for h in c.hits}), len({h.canary_no for h in d.hits})
    if not found_c or not c.planted or not d.planted:
        return False
    n, share = found_c + found_d, d.planted / (c.planted + d.planted)
    # P(at most found_d of n are d's) = P(at least found_c are c's), c's share being 1 - share.
    return stats.log_binom_sf(found_c, n, 1 - share) <= math.log(p_max)


def _unique(items) -> list[str]:
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _fmt_p(p: float, log_p: float) -> str:
    if p > 0:
        return f"{p:.2e}"
    return f"1e{stats.log10(log_p):.0f}"
