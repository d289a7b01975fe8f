"""The evidence report an investigator hands on: HTML, Markdown or JSON.

Everything in it comes from the Verdict (forensics.evidence) plus the accused
export's lineage record; it shows no real customer's data (canaries are
synthetic and shown whole, real rows only as counts and row numbers).
"""

from __future__ import annotations

import html
import json
import math
import shlex
from pathlib import Path

from canary.errors import UsageError
from forensics import stats
from forensics.evidence import Candidate, Verdict

from . import store
from .home import Home
from .report import carriers_in_words, fmt_p
from .writers import check_output_path

SHOW = 12  # candidates shown in full; the plot shows up to 40


def lineage_records(home: Home, candidates: list[Candidate]) -> dict[str, dict]:
    """The lineage record of each export shown, and the canaries it planted that were found."""
    ids = [c.export_id for c in candidates]
    if not ids:
        return {}
    con = store.connect(home, read_only=True)
    try:
        ph = ", ".join("?" for _ in ids)
        cur = con.execute(f"""
            SELECT e.export_id, r.name, r.kind, e.purpose, e.approver, strftime(e.created_at, '%Y-%m-%d %H:%M:%S'),
                   e.rows, e.canaries, e.columns, e.out_path, e.sha256, e.bytes, e.key_id, e.scheme, e.where_sql,
                   s.location, e.export_no, e.authorization_ref, e.retain_until
            FROM store.exports e JOIN store.recipients r USING (recipient_id) JOIN store.sources s USING (source_id)
            WHERE e.export_id IN ({ph})""", ids)
        names = ["export_id", "recipient", "recipient_kind", "purpose", "approver", "created_at", "rows",
                 "canaries", "columns", "out_path", "sha256", "bytes", "key_id", "scheme", "where", "source",
                 "export_no", "authorization", "retain_until"]
        records = {r[0]: dict(zip(names, r)) for r in cur.fetchall()}
        head = con.execute("SELECT seq, entry_hash FROM store.ledger ORDER BY seq DESC LIMIT 1").fetchone()
        for export_id, rec in records.items():
            entry = con.execute("SELECT seq, entry_hash, mac, strftime(created_at, '%Y-%m-%d %H:%M:%S') "
                                "FROM store.ledger WHERE kind = 'export' AND ref = ?", [export_id]).fetchone()
            if entry is not None:
                rec["ledger"] = (f"entry #{entry[0]} of the ledger, hash {entry[1]}, MAC {entry[2]} ({entry[3]}); "
                                 f"the ledger head is #{head[0]} {head[1]}: `tracer verify --head {head[1]}` "
                                 f"proves the store still extends it")
        for c in candidates:
            rec = records.get(c.export_id)
            if rec is None or not c.hits:
                continue
            nos = sorted({h.canary_no for h in c.hits})
            rows = con.execute(
                f"SELECT canary_no, row_json FROM store.canaries WHERE export_no = ? AND canary_no IN "
                f"({', '.join('?' for _ in nos)})", [rec["export_no"], *nos]).fetchall()
            rec["canaries_found"] = {int(n): json.loads(j) for n, j in rows}
        return records
    finally:
        con.close()


def reproduce_command(verdict: Verdict, home: Home) -> str:
    return (f"TRACER_HOME={shlex.quote(str(home.root))} tracer attribute "
            f"{shlex.quote(verdict.leak['path'])} --alpha {verdict.alpha:g} --json"
            f"   # leak sha256 {verdict.leak['sha256']}")


def shown(verdict: Verdict) -> list[Candidate]:
    return [c for c in verdict.candidates if c.accused] + \
        [c for c in verdict.candidates if not c.accused][:max(0, SHOW - len(verdict.accused))]


def report_dict(verdict: Verdict, home: Home) -> dict:
    cands = shown(verdict)
    return {"report": "tracer evidence report", "verdict": verdict.to_dict(),
            "lineage": lineage_records(home, cands), "reproduce": reproduce_command(verdict, home)}


def write_report(verdict: Verdict, path: str | Path, home: Home) -> Path:
    """Write the report; the format follows the extension (.html, .md, .json)."""
    p = Path(path).expanduser().resolve()
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in ("html", "htm", "md", "json"):
        raise UsageError("--report must end in .html, .md or .json", path=str(p))
    leak = verdict.leak.get("path")
    check_output_path(p, "--report", inputs={"the leak": leak} if leak else None, home=home)
    data = report_dict(verdict, home)
    if fmt == "json":
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    elif fmt == "md":
        text = _markdown(verdict, data)
    else:
        text = _html(verdict, data)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p


# --- the plot ------------------------------------------------------------------

def score_svg(verdict: Verdict, width: int = 760) -> str:
    """Every export's evidence (-log10 of its corrected false-accusation
    probability) against the accusation threshold, as an inline SVG."""
    cands = verdict.candidates[:40]
    threshold = -math.log10(verdict.alpha)
    cap = max(threshold * 2.5, 12.0)

    def score(c: Candidate) -> float:
        v = -stats.log10(c.log_p) if c.log_p < 0 else 0.0
        return min(v, cap)

    left, right, bar, gap, top = 230, 70, 16, 6, 34
    plot_w = width - left - right
    height = top + len(cands) * (bar + gap) + 40
    x = lambda v: left + plot_w * v / cap  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="evidence per export against the accusation threshold" font-family="sans-serif" '
           f'font-size="12">',
           f'<text x="{left}" y="16" font-weight="bold">Evidence per export: -log10(false-accusation '
           f'probability), corrected</text>']
    for i, c in enumerate(cands):
        y = top + i * (bar + gap)
        s = score(c)
        color = "#c0392b" if c.accused else ("#7f8c8d" if c.excluded else "#e67e22")
        label = html.escape(f"{c.recipient} ({c.export_id})")
        out.append(f'<text x="{left - 8}" y="{y + bar - 3}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{max(1.0, x(s) - left):.1f}" height="{bar}" fill="{color}"/>')
        raw = -stats.log10(c.log_p) if c.log_p < 0 else 0.0
        txt = f"{raw:.0f}" if raw >= cap else f"{raw:.1f}"
        out.append(f'<text x="{x(s) + 4:.1f}" y="{y + bar - 3}">{"≥ " if raw > cap else ""}{txt}</text>')
    tx = x(threshold)
    out.append(f'<line x1="{tx:.1f}" y1="{top - 8}" x2="{tx:.1f}" y2="{height - 30}" stroke="#2c3e50" '
               f'stroke-dasharray="5,4" stroke-width="2"/>')
    out.append(f'<text x="{tx + 4:.1f}" y="{height - 14}">accusation threshold (alpha {verdict.alpha:g})</text>')
    out.append("</svg>")
    return "\n".join(out)


# --- HTML ----------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC",sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.6em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;
vertical-align:top;font-size:.92em}th{background:#f4f4f4}
.verdict{font-size:1.15em;padding:.8em 1em;border-radius:6px;margin:1em 0}
.accused{background:#fdecea;border-left:6px solid #c0392b}.ambiguous{background:#fef5e7;border-left:6px solid #e67e22}
.source{background:#eaf2f8;border-left:6px solid #2980b9}.unrelated{background:#eafaf1;border-left:6px solid #27ae60}.unlinkable{background:#f4f6f6;border-left:6px solid #7f8c8d}
code,pre{background:#f6f6f6;padding:2px 4px;border-radius:3px;font-size:.9em}pre{padding:.6em;overflow-x:auto}
.muted{color:#666}.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def _e(v) -> str:
    return html.escape("" if v is None else str(v))


def _rows(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _candidate_html(c: Candidate, rec: dict | None, verdict: Verdict) -> str:
    title = "Accused" if c.accused else ("Excluded" if c.excluded else "Not accused")
    parts = [f"<h3>{title}: {_e(c.recipient)} <span class='muted'>(export {_e(c.export_id)})</span></h3>",
             f"<p>False-accusation probability <b>{_e(fmt_p(c.p_value, c.log_p))}</b> after correcting for "
             f"{verdict.exports_tested} exports (before correction {_e(fmt_p(stats.to_p(c.log_p_raw), c.log_p_raw))}"
             f"; {c.tests} independent tests combined).</p>"]
    if c.excluded:
        parts.append(f"<p>Why it cannot be the origin: {_e(c.excluded)}.</p>")
    mark_rows = [[m.export_column, m.channel, m.leak_column, m.readable, m.agree, m.disagree, m.off,
                  f"1/{m.q}", fmt_p(stats.to_p(m.log_p), m.log_p)] for m in c.marks]
    mark_rows += [[col, "", "", "erased (precision lost): not counted", "", "", "", "", ""]
                  for col in sorted(set(c.erased_columns))]
    if mark_rows:
        parts.append(f"<h4>Marks read</h4><p>On the rows of {c.marks_rows_read:,} of the {c.held_rows:,} leak rows "
                     "this export held (its smallest row keys).</p>" + _rows(
            ["export column", "channel", "leak column", "readable", "agree", "disagree", "off lattice",
             "chance per cell", "p"], mark_rows))
    found = {h.canary_no for h in c.hits}
    parts.append(f"<h4>Canaries</h4><p>{len(found)} of {c.planted} unique canaries planted in this export were "
                 f"found; expected by chance {c.canary_lambda:.2e} (p = "
                 f"{_e(fmt_p(stats.to_p(c.canary_log_p), c.canary_log_p))}).</p>")
    if c.hits:
        synth = (rec or {}).get("canaries_found", {})
        parts.append(_rows(["leak row", "canary", "matched on", "the synthetic customer (as exported)"],
                           [[h.leak_row, h.canary_no, ", ".join(h.fields),
                             json.dumps(synth.get(h.canary_no, {}), ensure_ascii=False)] for h in c.hits[:20]]))
    if c.shared_found:
        parts.append(f"<p>Pooled canaries: {c.shared_found} found in the leak, {len(c.shared_held)} of them taken "
                     f"by this export (an innocent export takes each with probability at most "
                     f"{c.share_probability:g}; p = {_e(fmt_p(stats.to_p(c.shared_log_p), c.shared_log_p))}).</p>")
    parts.append(f"<h4>Membership</h4><p>Held {c.held_rows} of the {c.linked_rows} leaked rows that link to "
                 f"customers; columns explained: {_e(', '.join(c.columns_explained) or '-')}"
                 f"{'; never received: ' + _e(', '.join(c.columns_unexplained)) if c.columns_unexplained else ''}"
                 f".</p>")
    if rec and c.accused:
        parts.append("<h4>Lineage record of this export</h4>" + _rows(["field", "value"], [
            ["recipient", f"{rec['recipient']} ({rec.get('recipient_kind') or 'kind not recorded'})"],
            ["purpose", rec["purpose"]], ["approver", rec["approver"]],
            ["authorization", rec.get("authorization") or "-"], ["exported at", rec["created_at"]],
            ["rows / canaries", f"{rec['rows']} / {rec['canaries']}"], ["columns", ", ".join(rec["columns"])],
            ["filter", rec["where"] or "-"], ["source", rec["source"]], ["file", rec["out_path"]],
            ["file sha256", rec["sha256"]], ["key id", rec["key_id"]], ["scheme", rec["scheme"]],
            ["ledger entry", rec.get("ledger") or "-"]]))
    return "\n".join(parts)


def _html(verdict: Verdict, data: dict) -> str:
    leak, parsed = verdict.leak, verdict.leak.get("parsed", {})
    lineage = data["lineage"]
    body = ["<h1>Leak attribution: evidence report</h1>",
            f"<p class='muted'>Produced by tracer; examined {_e(leak.get('examined_at'))}.</p>",
            f"<div class='verdict {verdict.verdict}'><b>Verdict: {_e(verdict.verdict.upper())}.</b> "
            f"{_e(verdict.summary)}</div>",
            "<h2>The leak as received</h2>",
            _rows(["field", "value"], [
                ["file", leak["file"]], ["size", f"{leak['bytes']:,} bytes"], ["SHA-256", leak["sha256"]],
                ["examined", leak.get("examined_at")], ["format", parsed.get("format")],
                ["encoding", parsed.get("encoding")], ["delimiter", repr(parsed.get("delimiter"))],
                ["header row", parsed.get("header")], ["rows", verdict.rows],
                ["rows linked to customers", verdict.linked_rows], ["canary rows", verdict.canary_rows],
                ["notes", "; ".join(parsed.get("notes", [])) or "-"]]),
            "<h3>How each column was read</h3>",
            _rows(["column", "taken as", "confidence", "why"],
                  [[c["column"], c["kind"], f"{c['confidence']:.2f}", c["reason"]] for c in verdict.columns]),
            "<h2>Every export against the threshold</h2>", score_svg(verdict),
            "<h2>Evidence</h2>"]
    for c in shown(verdict):
        body.append(_candidate_html(c, lineage.get(c.export_id), verdict))
    body += ["<h2>How the probability was computed</h2>", f"<p>{_e(verdict.method)}</p>",
             "<h2>Reproduce</h2><p>Anyone holding the key can recompute this verdict from the same files:</p>",
             f"<pre>{_e(data['reproduce'])}</pre>"]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>tracer evidence report</title>"
            f"<style>{_CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")


# --- Markdown ------------------------------------------------------------------

def _md_table(headers: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        return ("" if v is None else str(v)).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _markdown(verdict: Verdict, data: dict) -> str:
    leak, parsed = verdict.leak, verdict.leak.get("parsed", {})
    out = ["# Leak attribution: evidence report", "",
           f"**Verdict: {verdict.verdict.upper()}.** {verdict.summary}", "", "## The leak as received", "",
           _md_table(["field", "value"], [["file", leak["file"]], ["size", f"{leak['bytes']:,} bytes"],
                                          ["SHA-256", leak["sha256"]], ["examined", leak.get("examined_at")],
                                          ["format / encoding", f"{parsed.get('format')} / {parsed.get('encoding')}"],
                                          ["rows (linked / canaries)",
                                           f"{verdict.rows} ({verdict.linked_rows} / {verdict.canary_rows})"]]),
           "", _md_table(["column", "taken as", "confidence", "why"],
                         [[c["column"], c["kind"], f"{c['confidence']:.2f}", c["reason"]] for c in verdict.columns]),
           "", "## Evidence", ""]
    for c in shown(verdict):
        status = "ACCUSED" if c.accused else ("excluded: " + c.excluded if c.excluded else "not accused")
        out.append(f"### {c.recipient} (export {c.export_id}): {status}")
        out.append(f"False-accusation probability {fmt_p(c.p_value, c.log_p)} (corrected for "
                   f"{verdict.exports_tested} exports"
                   + (f", plus {c.copy_rule_error:.0e} for the chance that the rules telling its own copy from "
                      "later copies made from it erred" if c.copy_rule_error else "") + ").")
        if c.marks:
            out.append("")
            out.append(f"Marks read on {c.marks_rows_read:,} of the {c.held_rows:,} leak rows it held.")
            out.append("")
            out.append(_md_table(["export column", "channel", "leak column", "readable", "agree", "p"],
                                 [[m.export_column, m.channel, m.leak_column, m.readable, m.agree,
                                   fmt_p(stats.to_p(m.log_p), m.log_p)] for m in c.marks]))
        if c.later_sources or c.copy_sources:
            out.append("")
            out.append(f"These may be in the leak and carry this recipient's marks: {carriers_in_words(c)}. Its marks "
                       "on the cells their copies could not carry (rows or columns they never had, cells they "
                       "marked themselves), the figure its probability rests on:")
            out.append("")
            out.append(_md_table(["export column", "channel", "leak column", "readable", "agree", "p"],
                                 [[m.export_column, m.channel, m.leak_column, m.readable, m.agree,
                                   fmt_p(stats.to_p(m.log_p), m.log_p)] for m in c.own_marks]))
        out.append("")
        out.append(f"Canaries: {len({h.canary_no for h in c.hits})} of {c.planted} found"
                   + (f" (rows {', '.join(str(h.leak_row) for h in c.hits[:10])})" if c.hits else "")
                   + f". Membership: held {c.held_rows} of {c.linked_rows} linked rows.")
        rec = data["lineage"].get(c.export_id)
        if rec and c.accused:
            out.append("")
            out.append(_md_table(["lineage", "value"], [[k, rec[k]] for k in (
                "recipient", "purpose", "approver", "created_at", "rows", "sha256", "key_id") if k in rec]))
        out.append("")
    out += ["## How the probability was computed", "", verdict.method, "", "## Reproduce", "", "```",
            data["reproduce"], "```", ""]
    return "\n".join(out)
