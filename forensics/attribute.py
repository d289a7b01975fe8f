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
- canaries: a hit by chance needs a leak row to equal a synthetic identity on
  every matched field; with L leak rows and K planted canaries the number of
  chance hits is at most Poisson(L * K * p_fields);
- the two families are combined by taking the smaller p-value times the
  number of families evaluated (valid under any dependence), then multiplied
  by the number of exports in the store (Bonferroni).
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

from canary.kinds import IDENTIFIERS, Kind
from canary.prf import Key, export_key, identity_key

from . import fastprf, markplan, sqlprf, stats
from .coltypes import normalise_header, type_columns
from .duck import insert_rows
from .evidence import CanaryHit, Candidate, MarkColumnEvidence, Verdict
from .normalize import (IDNO15_NAME_CODE, normalise_name, IDNO15_NAME_LABEL, KIND_CODES, identity_label, idno15_name_message,
                        sql_idno15, sql_idno_recovered, sql_name, sql_normalise)
from .readers import read_table

#: Probability that one leak row equals one given canary on a field by
#: chance (value-space sizes, rounded up to stay conservative).
FIELD_CHANCE = {"idno": 1e-10, "phone": 1e-8, "email": 1e-9, "custno": 1e-6, "account": 1e-9, "name": 1e-3}
MARK_SAMPLE_PER_EXPORT = 5000  # readable evidence saturates long before this
ABSENT_MIN_READABLE = 20  # enough readable marks to say an export's fingerprint is absent
ABSENT_P = 1e-3  # marks agreeing no more than this unlikely by chance: the fingerprint is absent
ROUNDED_SHARE = 0.3  # fewer non-round amounts than this: the column was rounded (erased)

METHOD = (
    "Marks: each export moves a keyed selection of amounts and dates onto keyed lattice points (lattice-v1). "
    "A copy that did not come from export E lands on E's point in any one cell with probability exactly 1/q "
    "(1/100 for cents, 1/10 for whole yuan, 1/4 for dates), independently across cells, so the chance of at "
    "least the observed number of agreeing cells is a binomial tail. Canaries: synthetic customers planted in "
    "one export; the chance that unrelated rows match them is bounded by a Poisson tail from the size of each "
    "field's value space. Pooled canaries: an innocent export took each pooled canary found with probability at "
    "most 1/4, a binomial tail. For an innocent export these tests rest on independent keyed values of that "
    "export, so their p-values combine by Fisher's method; the combined figure is then multiplied by the number "
    "of exports in the lineage store (Bonferroni), so the printed probability bounds the chance that any "
    "innocent recipient would be accused. Membership (who held the rows and columns) never accuses on its own: "
    "with overlapping exports no model of innocence gives it a valid tail; it only excludes."
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


def attribute(con: duckdb.DuckDBPyConnection, leak_path: str | os.PathLike, keyring: dict[str, Key], *,
              alpha: float = 1e-6, now: datetime | None = None, tmpdir: str | None = None,
              progress=None) -> Verdict:
    """Attribute a leaked file. ``con`` must carry the lineage relations.
    ``progress(stage)`` is told each stage as it starts."""
    job = _Attribution(con, keyring, alpha, now, tmpdir)
    job.progress = progress or (lambda stage, done=None, total=None: None)
    return job.run(leak_path)


def _file_facts(path: str) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return {"file": os.path.basename(path), "path": os.path.abspath(path), "bytes": os.path.getsize(path),
            "sha256": h.hexdigest()}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Attribution:
    def __init__(self, con, keyring, alpha, now, tmpdir):
        self.con, self.keyring, self.alpha, self.tmpdir = con, keyring, alpha, tmpdir
        self.now = now or datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)

    def run(self, leak_path) -> Verdict:
        con, say = self.con, self.progress
        say("reading the leak")
        self.info = read_table(con, leak_path, "leak", tmpdir=self.tmpdir)
        facts = _file_facts(str(leak_path))
        facts.update({"examined_at": self.now.isoformat(), "parsed": self.info.to_dict()})
        self.leak_facts = facts
        self._type()
        self.exports = self._load_exports()
        self.n_exports = len(self.exports)
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
        canary_rows = len({h.leak_row for c in cands.values() for h in c.hits})
        return self._verdict(list(cands.values()), linked, canary_rows, sources)

    # -- reading and linking --------------------------------------------------

    def _type(self) -> None:
        names = self.info.columns
        sample = self.con.execute(
            "SELECT * FROM leak USING SAMPLE reservoir(5000 ROWS) REPEATABLE (7)").fetchall()
        self.types = type_columns(names, [[r[i] for r in sample] for i in range(len(names))])

    def _load_exports(self) -> dict[int, _Export]:
        rows = self.con.execute(
            "SELECT export_no, export_id, recipient, key_id, params, columns, CAST(created_at AS VARCHAR) "
            "FROM lin_exports").fetchall()
        return {r[0]: _Export(r[0], r[1], r[2], r[3], json.loads(r[4]), list(r[5]), r[6]) for r in rows}

    def _key_ids(self) -> list[str]:
        used = {r[0] for r in self.con.execute(
            "SELECT DISTINCT key_id FROM lin_sources UNION SELECT DISTINCT key_id FROM lin_exports").fetchall()}
        return sorted(k for k in used if k in self.keyring)

    def _digest_leak(self) -> None:
        arms = []
        self.id_columns = [t for t in self.types if t.kind in IDENTIFIERS]
        name_col = next((t.name for t in self.types if t.kind is Kind.NAME), None)
        for n, key_id in enumerate(self._key_ids()):
            var = f"ik{n}"
            sqlprf.set_key(self.con, var, identity_key(self.keyring[key_id]))
            for t in self.id_columns:
                col = _q(t.name)
                norm = sql_idno_recovered(col) if t.kind is Kind.IDNO else sql_normalise(t.kind, col)
                forms = [(KIND_CODES[t.kind], sqlprf.digest64(identity_label(t.kind), norm, var=var))]
                if t.kind is Kind.IDNO and name_col:
                    msg = idno15_name_message(sql_idno15(col), sql_name(_q(name_col)))
                    forms.append((IDNO15_NAME_CODE, sqlprf.digest64(IDNO15_NAME_LABEL, msg, var=var)))
                for code, d in forms:
                    arms.append(f"SELECT rowid AS __lr, CAST({code} AS UTINYINT) AS kind, {d} AS digest, "
                                f"'{key_id}' AS key_id FROM leak")
        body = " UNION ALL ".join(arms) if arms else \
            "SELECT NULL::BIGINT AS __lr, NULL::UTINYINT AS kind, NULL::UBIGINT AS digest, NULL::VARCHAR AS key_id"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE leak_ids AS SELECT * FROM ({body}) WHERE digest IS NOT NULL")

    def _link(self) -> tuple[int, list[dict]]:
        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE links AS
            SELECT DISTINCT l.__lr, i.row_key, i.source_id
            FROM leak_ids l JOIN lin_identities i
              ON i.kind = l.kind AND i.digest = l.digest AND i.key_id = l.key_id""")
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
                f"SELECT rowid, {sql_name(_q(name_col))} FROM leak WHERE rowid IN ({', '.join(map(str, lrs))})").fetchall())
        grouped: dict[tuple[int, int, int], set[str]] = defaultdict(set)
        for lr, eno, cno, field, cname, shared in rows:
            if shared is not None:
                self.shared_found[shared].add(lr + 1)
                continue
            grouped[(eno, cno, lr)].add(field)
            if cname and names.get(lr) and names[lr] == normalise_name(cname):
                grouped[(eno, cno, lr)].add("name")
        if self.shared_found:
            ids = ", ".join("'" + k.replace("'", "''") + "'" for k in self.shared_found)
            for sid, eno in self.con.execute(
                    f"SELECT DISTINCT shared_id, export_no FROM lin_canaries WHERE shared_id IN ({ids})").fetchall():
                self.shared_holders.setdefault(sid, set()).add(eno)
        out: dict[int, list[CanaryHit]] = defaultdict(list)
        for (eno, cno, lr), fields in grouped.items():
            chance = math.prod(FIELD_CHANCE[f] for f in fields)
            out[eno].append(CanaryHit(cno, lr + 1, sorted(fields), chance))
        return out

    def _holders(self) -> None:
        """TEMP TABLE holders: (leak row, row key, export) for every export that held a linked row."""
        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE holders AS
            SELECT DISTINCT k.__lr, k.row_key, r.export_no FROM links k JOIN lin_export_rows r USING (row_key)""")

    def _candidates(self, hits, linked) -> dict[int, Candidate]:
        held = dict(self.con.execute(
            "SELECT export_no, count(DISTINCT __lr) FROM holders GROUP BY export_no").fetchall())
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
            c.shared_held = sorted(k for k, holders in self.shared_holders.items() if eno in holders)
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

    def _pairs(self, e: _Export) -> list[tuple[markplan.MarkColumn, str, int]]:
        """(mark column, leak column, tries) pairs: by header, else by kind (counted for the correction)."""
        leak_by_header = {normalise_header(t.name): t for t in self.types}
        taken_by_name = {normalise_header(n) for n in e.columns}
        out = []
        for md in e.params.get("mark_columns", []):
            m = markplan.MarkColumn(**md)
            t = leak_by_header.get(normalise_header(m.name))
            if t is not None:
                out.append((m, t.name, 1))
                continue
            kind = Kind.AMOUNT if m.kind == "amount" else Kind.DATE
            options = [t.name for t in self.types if t.kind is kind and normalise_header(t.name) not in taken_by_name]
            out.extend((m, name, len(options)) for name in options)
        return out

    def _rounded(self, leak_col: str, m: markplan.MarkColumn) -> bool:
        """Whether a leak column lost the precision a channel needs (a value-only
        test, so it cannot favour or disfavour any export): such marks are erased."""
        units = markplan.units_sql(_q(leak_col), m, reading=True)
        if m.kind == "amount" and m.channel == "coarse":
            units = markplan.coarse_units_sql(units, m)
        elif m.kind != "amount":
            n = self.con.execute(f"SELECT count({units}) FROM leak").fetchone()[0]
            return n == 0
        n, fine = self.con.execute(
            f"SELECT count(u), count(*) FILTER (WHERE u % 10 <> 0) FROM (SELECT {units} AS u FROM leak)").fetchone()
        return n == 0 or fine < ROUNDED_SHARE * n

    def _mark_evidence(self, cands: dict[int, Candidate]) -> None:
        if not cands:
            return
        con = self.con
        rows = []
        for eno in cands:
            e = self.exports[eno]
            if e.key_id in self.keyring and e.params.get("mark_columns"):
                ipad, opad = export_key(self.keyring[e.key_id], e.export_id).hmac_pads()
                rows.append((eno, ipad, opad))
        if not rows:
            return
        insert_rows(con, "ekeys", ["export_no", "ipad", "opad"], rows, [pa.int32(), pa.binary(), pa.binary()])
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE mark_rows AS
            SELECT __lr, row_key, export_no FROM (
                SELECT h.*, dense_rank() OVER (PARTITION BY h.export_no ORDER BY h.row_key) AS rk
                FROM holders h SEMI JOIN ekeys k ON k.export_no = h.export_no)
            WHERE rk <= {MARK_SAMPLE_PER_EXPORT}""")
        # Group exports by identical (mark column, leak column) so one query serves many exports.
        jobs: dict[tuple, list[int]] = defaultdict(list)
        rounded_cache: dict[tuple, bool] = {}
        for eno, *_ in rows:
            e, c = self.exports[eno], cands[eno]
            for m, leak_col, tries in self._pairs(e):
                rk = (leak_col, m.kind, m.channel, m.decimals)
                if rk not in rounded_cache:
                    rounded_cache[rk] = self._rounded(leak_col, m)
                if rounded_cache[rk]:
                    c.erased_columns.append(f"{leak_col} ({m.channel})")
                    continue
                jobs[(m, leak_col, tries)].append(eno)
        self._mark_material(rows, sorted({m.group for m, _, _ in jobs}))
        # Each leak value is parsed once (a table per column and reading), not
        # once per export that held its row.
        parsed: dict[tuple, str] = {}
        for (m, leak_col, tries), enos in jobs.items():
            plan = markplan.plan_sql("mat", m)
            how = (leak_col, m.kind, m.decimals)
            if how not in parsed:
                parsed[how] = f"leak_units_{len(parsed)}"
                con.execute(f"CREATE OR REPLACE TEMP TABLE {parsed[how]} AS SELECT rowid AS __lr, "
                            f"{markplan.units_sql(_q(leak_col), m, reading=True)} AS u FROM leak")
            res = con.execute(f"""
                SELECT export_no, count(*) AS n,
                       count(*) FILTER (WHERE b = bit) AS agree, count(*) FILTER (WHERE b = 1 - bit) AS disagree
                FROM (
                    SELECT export_no, {markplan.read_sql('u', 'dither', m)} AS b, bit
                    FROM (
                        SELECT x.export_no, x.u, {plan['dither']} AS dither,
                               {plan['bit']} AS bit,
                               {plan['selected']} AS selected
                        FROM (
                            SELECT x.*, k.__m{m.group} AS mat FROM (
                                SELECT DISTINCT r.export_no, r.row_key, l.u
                                FROM mark_rows r JOIN {parsed[how]} l ON l.__lr = r.__lr
                                WHERE r.export_no IN ({', '.join(map(str, enos))}) AND l.u IS NOT NULL) x
                            JOIN mark_material k USING (export_no, row_key)) x
                    ) WHERE selected AND {markplan.eligible_sql('u', m, embedding=False)}
                ) GROUP BY export_no""").fetchall()
            got = {r[0]: r[1:] for r in res}
            for eno in enos:
                n, agree, disagree = got.get(eno, (0, 0, 0))
                ev = MarkColumnEvidence(m.name, leak_col, m.kind, m.q, int(n), int(agree), int(disagree),
                                        channel=m.channel)
                ev.log_p = stats.bonferroni(stats.log_binom_sf(ev.agree, ev.readable, 1.0 / m.q), tries)
                cands[eno].marks.append(ev)

    def _mark_material(self, keyed: list[tuple[int, bytes, bytes]], groups: list[int]) -> None:
        """TEMP TABLE mark_material: each sampled (export, row key)'s keyed mark
        material per group, under that export's key: natively (one pass, a
        key per row) where the PRF core is built, else in SQL."""
        con = self.con
        if not groups:
            con.execute("CREATE OR REPLACE TEMP TABLE mark_material AS SELECT export_no, row_key FROM mark_rows")
            return
        if not fastprf.available():
            mats = ", ".join(f"{markplan.material_sql('x.row_key', g, ipad_sql='k.ipad', opad_sql='k.opad')} "
                             f"AS __m{g}" for g in groups)
            con.execute(f"""CREATE OR REPLACE TEMP TABLE mark_material AS
                SELECT x.export_no, x.row_key, {mats}
                FROM (SELECT DISTINCT export_no, row_key FROM mark_rows) x JOIN ekeys k USING (export_no)""")
            return
        enos = np.array(sorted(eno for eno, _, _ in keyed), dtype=np.int64)
        by_eno = {eno: export_key(self.keyring[self.exports[eno].key_id], self.exports[eno].export_id)
                  for eno in enos.tolist()}
        keys = fastprf.Keys([by_eno[eno] for eno in enos.tolist()])
        pairs = con.execute("SELECT DISTINCT export_no, row_key FROM mark_rows").fetch_arrow_table()
        index = np.searchsorted(enos, pairs.column("export_no").to_numpy())
        cols = {"export_no": pairs.column("export_no"), "row_key": pairs.column("row_key")}
        cols.update(markplan.material_columns(keys, pairs.column("row_key"), groups, key_index=index))
        con.register("__material", pa.table(cols))
        con.execute("CREATE OR REPLACE TEMP TABLE mark_material AS SELECT * FROM __material")
        con.unregister("__material")

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
                found = len({h.canary_no for h in c.hits})
                worst = max((h.chance for h in c.hits), default=0.0)
                c.canary_lambda = self.unlinked_rows * c.planted * worst
                c.canary_log_p = stats.log_poisson_sf(found, c.canary_lambda) if found else 0.0
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

    def _fingerprint_absent(self, c: Candidate) -> bool:
        """Enough of its marks were readable, and they agree no more than chance
        would: neither its copy nor a merge that includes its copy."""
        return c.marks_readable >= ABSENT_MIN_READABLE and c.marks_log_p > math.log(ABSENT_P)

    def _exclusion(self, c: Candidate) -> str | None:
        if c.columns_unexplained:
            return f"never received column(s) {', '.join(c.columns_unexplained)}"
        if self._fingerprint_absent(c):
            return (f"its fingerprint is absent: {c.marks_agree} of {c.marks_readable} readable marked cells "
                    f"carry its marks, no more than chance, where its own copy would carry nearly all")
        if c.linked_rows and c.held_rows < 0.9 * c.linked_rows:
            return f"held only {c.held_rows} of the {c.linked_rows} linked rows"
        return None

    def _merge_explains(self, cands: list[Candidate]) -> list[Candidate]:
        """Recipients whose copies together hold the leak's linked rows and whose
        fingerprints are not absent: possibly a merge of their copies."""
        partial = [c for c in cands if not c.accused and not c.columns_unexplained and c.held_rows
                   and not self._fingerprint_absent(c)]
        if len(partial) < 2:
            return []
        enos = ", ".join(str(c.export_no) for c in partial)
        covered = self.con.execute(f"SELECT count(DISTINCT __lr) FROM holders WHERE export_no IN ({enos})").fetchone()[0]
        linked = partial[0].linked_rows
        return partial if linked and covered >= 0.9 * linked else []

    def _verdict(self, cands: list[Candidate], linked: int, canary_rows: int, sources: list[dict]) -> Verdict:
        cands.sort(key=lambda c: (not c.accused, c.log_p, -c.held_rows, c.export_no))
        accused = [c for c in cands if c.accused]
        rows = self.info.rows
        if accused:
            names = _unique(c.recipient for c in accused)
            best = accused[0]
            verdict = "accused"
            summary = (f"The leak came from {', '.join(names)}: export {best.export_id} "
                       f"(false-accusation probability {_fmt_p(best.p_value, best.log_p)}, corrected for "
                       f"{self.n_exports} exports).")
        elif linked == 0 and canary_rows == 0:
            verdict = "unrelated"
            summary = (f"None of the {rows} rows links to any customer of any recorded source or export, and no "
                       "canary is present: this list did not come from this bank's recorded data.")
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
                summary = (f"{linked} of {rows} rows are this bank's customers, but no fingerprint separates "
                           f"the recipients who held them: ambiguous between {', '.join(names)} "
                           f"(or someone with access to the source). Nobody is accused.")
            else:
                verdict = "source"
                summary = (f"{linked} of {rows} rows match this bank's source data, but no export explains them: "
                           "every recipient who held these rows is excluded (see evidence). The rows were most "
                           "likely taken from the source directly, not from an export. Nobody is accused.")
        leak_cols = [t.to_dict() for t in self.types]
        return Verdict(verdict, summary, self.alpha, self.n_exports, self.leak_facts, leak_cols, rows, linked,
                       canary_rows, sources, cands, METHOD)


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
