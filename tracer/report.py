"""Plain-text renderings of receipts and verdicts, for people at a terminal.

The JSON forms come from the objects' to_dict(); these only arrange the same
numbers for reading.
"""

from __future__ import annotations

import math

from forensics import stats
from forensics.evidence import Candidate, Verdict

from .export import ExportReceipt


def fmt_p(p: float, log_p: float | None = None) -> str:
    """A probability a person can read: 3.1e-57, or 1e-4963 below float range."""
    if p >= 0.01:
        return f"{p:.2f}"
    if p > 0:
        return f"{p:.1e}"
    if log_p is not None and not math.isinf(log_p):
        return f"1e{stats.log10(log_p):.0f}"
    return "0"


def receipt_text(r: ExportReceipt) -> str:
    lines = []
    if r.recipient_created:
        lines.append(f"New recipient registered: {r.recipient}")
    lines.append(f"Exported {r.rows:,} rows + {r.canaries:,} canaries to {r.recipient} -> {r.out_path}")
    lines.append(f"  export id {r.export_id}, purpose: {r.purpose or '(none given)'}, "
                 f"approver: {r.approver or '(none given)'}")
    marked = [c for c in r.columns if c.marked]
    if marked:
        lines.append("  changed (marks, within tolerance):")
        for c in marked:
            lines.append(f"    {c.name}: {c.marked:,} cells, tolerance {c.tolerance}")
    else:
        lines.append("  no field was changed: only canaries and membership fingerprint this copy")
    for c in r.columns:
        if c.note and c.note.startswith("not marked"):
            lines.append(f"    {c.name}: {c.note}")
    rows_needed = r.code.get("rows_needed") if r.code else None
    if rows_needed:
        lines.append(f"  if up to {r.code['colluders']} recipients merge their copies, a leak of about "
                     f"{rows_needed:,} rows with the marked columns still names one of them "
                     f"(false accusation <= {r.code['epsilon']:g})")
    if r.reverted_for_filter:
        lines.append(f"  {r.reverted_for_filter} rows kept their original values so they still pass --where")
    for n in r.notes:
        lines.append(f"  note: {n}")
    lines.append(f"  sha256 {r.sha256}  ({r.bytes:,} bytes, {r.seconds:.1f}s)")
    if r.receipt_path:
        lines.append(f"  steward's receipt (keep it, do not send it): {r.receipt_path}")
    return "\n".join(lines)


def carriers_in_words(c: Candidate) -> str:
    """Who else may carry an export's marks into the leak, in words."""
    parts = []
    if c.later_sources:
        parts.append(f"later export(s) {', '.join(c.later_sources)} (made from this copy, or from a source that "
                     "may have held it)")
    if c.copy_sources:
        parts.append(f"the bank's own {', '.join(c.copy_sources)}, recorded as holding this copy (a returned file "
                     "taken into the bank's data: a copy of that source carries these marks too)")
    return " and ".join(parts)


def _candidate_lines(c: Candidate, indent: str = "  ") -> list[str]:
    out = []
    for m in c.marks:
        if m.readable:
            out.append(f"{indent}marks     {m.export_column} [{m.channel}] (leak column {m.leak_column}): {m.agree} of "
                       f"{m.readable} readable marked cells carry this export's marks; an innocent copy "
                       f"matches a cell with probability 1/{m.q}  (p = {fmt_p(stats.to_p(m.log_p), m.log_p)})")
    if c.later_sources or c.copy_sources:
        agree, readable = sum(m.agree for m in c.own_marks), sum(m.readable for m in c.own_marks)
        out.append(f"{indent}own marks {agree} of {readable} readable cells that {carriers_in_words(c)} "
                   "could not carry: the figure its probability rests on")
    for col in sorted(set(c.erased_columns)):
        out.append(f"{indent}marks     {col}: unreadable (rounded or reformatted): counted as erased, not against")
    found = sorted({h.canary_no for h in c.hits})
    if c.planted:
        if found:
            rows = ", ".join(f"row {h.leak_row} = canary #{h.canary_no} on {'+'.join(h.fields)}" for h in c.hits[:5])
            more = f" and {len(c.hits) - 5} more" if len(c.hits) > 5 else ""
            out.append(f"{indent}canaries  {len(found)} of {c.planted} planted found: {rows}{more} "
                       f"(p = {fmt_p(stats.to_p(c.canary_log_p), c.canary_log_p)})")
        else:
            out.append(f"{indent}canaries  none of {c.planted} planted found")
    if c.shared_found:
        out.append(f"{indent}pooled    {len(c.shared_held)} of the {c.shared_found} pooled canaries in the leak were "
                   f"received by this export; an export that did not leak takes each with probability "
                   f"{c.share_probability:g} (p = {fmt_p(stats.to_p(c.shared_log_p), c.shared_log_p)})")
    unexplained = f"; never received {', '.join(c.columns_unexplained)}" if c.columns_unexplained else ""
    out.append(f"{indent}membership held {c.held_rows} of {c.linked_rows} linked rows{unexplained}")
    return out


def verdict_text(v: Verdict, *, show: int = 6) -> str:
    leak = v.leak
    parsed = leak.get("parsed", {})
    lines = [
        f"Leak: {leak['file']} ({leak['bytes']:,} bytes, sha256 {leak['sha256'][:16]}...), {v.rows:,} rows, "
        f"read as {parsed.get('format')} / {parsed.get('encoding')}",
        *(f"  note: {n}" for n in parsed.get("notes", [])),  # rows left out or skipped: the reader must know
        "Columns: " + ", ".join(f"{c['column']}={c['kind']}" for c in v.columns),
        f"Linked: {v.linked_rows:,} of {v.rows:,} rows are customers in recorded sources; "
        f"{v.canary_rows} rows are canaries",
        "",
    ]
    head = {"accused": "ACCUSED", "ambiguous": "AMBIGUOUS", "source": "FROM THE SOURCE, NOT AN EXPORT",
            "unrelated": "UNRELATED", "unlinkable": "CANNOT BE LINKED"}[v.verdict]
    lines.append(f"VERDICT: {head}")
    lines.append(v.summary)
    accused = v.accused
    for c in accused:
        lines.append("")
        lines.append(f"Evidence against {c.recipient} (export {c.export_id}, exported {c.created_at}): "
                     f"false-accusation probability {fmt_p(c.p_value, c.log_p)} after correcting for "
                     f"{v.exports_tested} exports (alpha {v.alpha:g})")
        lines.extend(_candidate_lines(c, "  "))
    others = [c for c in v.candidates if not c.accused][:show]
    if others:
        lines.append("")
        lines.append("Not accused:" if accused else "Candidates considered:")
        for c in others:
            why = f"excluded: {c.excluded}" if c.excluded else "cannot be excluded"
            lines.append(f"  {c.recipient} (export {c.export_id}): p = {fmt_p(c.p_value, c.log_p)}; {why}")
            if not accused:
                lines.extend(_candidate_lines(c, "      "))
        hidden = len([c for c in v.candidates if not c.accused]) - len(others)
        if hidden > 0:
            lines.append(f"  ... and {hidden} more (use --json for all)")
    lines.append("")
    lines.append("How the probability was computed: " + v.method)
    return "\n".join(lines)
