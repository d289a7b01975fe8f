"""Evidence and verdicts as data: what was found, and how unlikely it is.

Every number a report shows comes from these objects, so the text output,
the JSON and the evidence report cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import stats

VERDICTS = ("accused", "ambiguous", "source", "unrelated", "unlinkable")


@dataclass
class MarkColumnEvidence:
    export_column: str
    leak_column: str
    kind: str
    q: int  # an innocent copy hits the export's point with probability 1/q
    readable: int = 0  # cells this export marked that the leak still carries readably
    agree: int = 0  # cells on this export's point with this export's codeword bit
    disagree: int = 0  # on this export's lattice, other bit
    log_p: float = 0.0
    channel: str = "fine"
    # False where the export did not record which selected cells it wrote unmarked (their values
    # did not parse): its disagreeing cells may be such cells, so they show no absence.
    shows_absence: bool = True

    @property
    def off(self) -> int:
        return self.readable - self.agree - self.disagree

    def to_dict(self) -> dict:
        return {"export_column": self.export_column, "leak_column": self.leak_column, "kind": self.kind,
                "channel": self.channel,
                "null_rate": 1.0 / self.q, "readable": self.readable, "agree": self.agree,
                "disagree": self.disagree, "off": self.off, "p_value": stats.to_p(self.log_p),
                "log10_p_value": _r(stats.log10(self.log_p))}


@dataclass
class CanaryHit:
    canary_no: int
    leak_row: int  # 1-based data row of the leak
    fields: list[str]
    chance: float  # probability one given leak row matches one given canary on these fields by chance

    def to_dict(self) -> dict:
        return {"canary": self.canary_no, "leak_row": self.leak_row, "fields": self.fields,
                "chance_per_pair": self.chance}


@dataclass
class Candidate:
    export_no: int
    export_id: str
    recipient: str
    created_at: str
    planted: int = 0
    hits: list[CanaryHit] = field(default_factory=list)
    share_probability: float = 0.0
    shared_found: int = 0  # pooled canaries in the leak (from anyone)
    shared_held: list[str] = field(default_factory=list)  # of those, the ones this export took
    shared_log_p: float = 0.0
    canary_log_p: float = 0.0
    canary_lambda: float = 0.0
    marks: list[MarkColumnEvidence] = field(default_factory=list)
    erased_columns: list[str] = field(default_factory=list)
    marks_log_p: float = 0.0
    marks_rows_read: int = 0  # held keys whose rows' marks were read
    linked_rows: int = 0
    held_rows: int = 0
    columns_explained: list[str] = field(default_factory=list)
    columns_unexplained: list[str] = field(default_factory=list)
    tests: int = 0
    log_p_raw: float = 0.0
    log_p: float = 0.0  # corrected for every export tested, plus copy_rule_error
    copy_rule_error: float = 0.0  # chance the rules telling its copy from later copies made from it erred
    accused: bool = False
    excluded: str | None = None  # why this export cannot be the (sole) origin
    explained_by: list[str] = field(default_factory=list)  # later exports made from its copy that explain the leak
    # Later exports whose copies may carry its marks (made from its copy, or from a source that may have
    # held it), and its marks on the cells they could not carry (forensics.attribute._explain_by_later_copies).
    later_sources: list[str] = field(default_factory=list)
    copy_sources: list[str] = field(default_factory=list)  # bank sources recorded as holding its copy, in the leak
    own_marks: list[MarkColumnEvidence] = field(default_factory=list)
    own_canaries: int = 0  # of its canaries found, those no such later export received

    @property
    def p_value(self) -> float:
        return stats.to_p(self.log_p)

    @property
    def marks_readable(self) -> int:
        return sum(m.readable for m in self.marks)

    @property
    def marks_agree(self) -> int:
        return sum(m.agree for m in self.marks)

    @property
    def absence_marks(self) -> list[MarkColumnEvidence]:
        """The read channels whose disagreement can show the fingerprint absent."""
        return [m for m in self.marks if m.readable and m.shows_absence]

    def to_dict(self) -> dict:
        return {
            "recipient": self.recipient, "export_id": self.export_id, "accused": self.accused,
            "p_value": self.p_value, "log10_p_value": _r(stats.log10(self.log_p)),
            "excluded": self.excluded,
            "explained_by": self.explained_by,
            "evidence": {
                "canaries": {"planted": self.planted, "found": len({h.canary_no for h in self.hits}),
                             "hits": [h.to_dict() for h in self.hits], "expected_by_chance": self.canary_lambda,
                             "p_value": stats.to_p(self.canary_log_p)},
                "shared_canaries": {"found_in_leak": self.shared_found, "held_by_this_export": len(self.shared_held),
                                    "share_probability": self.share_probability,
                                    "p_value": stats.to_p(self.shared_log_p)},
                "marks": {"columns": [m.to_dict() for m in self.marks], "erased_columns": self.erased_columns,
                          "readable": self.marks_readable, "agree": self.marks_agree,
                          "rows_read": self.marks_rows_read, "p_value": stats.to_p(self.marks_log_p)},
                "membership": {"linked_rows": self.linked_rows, "held_rows": self.held_rows,
                               "columns_explained": self.columns_explained,
                               "columns_unexplained": self.columns_unexplained},
                "tests": self.tests, "p_value_raw": stats.to_p(self.log_p_raw),
                "copy_rule_error": self.copy_rule_error,
                "later_sources": {"exports": self.later_sources, "sources": self.copy_sources,
                                  "own_marks": [m.to_dict() for m in self.own_marks],
                                  "own_canaries": self.own_canaries,
                                  "readable": sum(m.readable for m in self.own_marks),
                                  "agree": sum(m.agree for m in self.own_marks)},
                "exported_at": self.created_at,
            },
        }


@dataclass
class Verdict:
    verdict: str
    summary: str
    alpha: float
    exports_tested: int
    leak: dict
    columns: list[dict]
    rows: int
    linked_rows: int
    canary_rows: int
    sources: list[dict]
    candidates: list[Candidate]
    method: str

    @property
    def accused(self) -> list[Candidate]:
        return [c for c in self.candidates if c.accused]

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "summary": self.summary, "alpha": self.alpha,
                "exports_tested": self.exports_tested, "leak": self.leak, "columns": self.columns,
                "rows": self.rows, "linked_rows": self.linked_rows, "canary_rows": self.canary_rows,
                "sources": self.sources, "method": self.method,
                "candidates": [c.to_dict() for c in self.candidates]}


def _r(x: float) -> float | None:
    if x is None or math.isinf(x):
        return None
    return round(x, 2)
