"""OpenLineage: every export announced as a RunEvent, so Marquez or DataHub
show it beside the bank's other data flows.

One COMPLETE event per export: the source as input dataset, the output file
as output dataset (schema + column lineage facets), and a custom run facet
``tracer_export`` with the recipient, purpose, export id, row and canary
counts. Never customer data: no values, no WHERE text, no query text (either
could hold an ID number), no user name or password. Delivery is best effort:
a file (JSON lines, appended) and/or an HTTP endpoint (POST URL +
/api/v1/lineage); a failure to deliver is a warning, never a failed export.
"""

from __future__ import annotations

import hashlib
import json
import socket
import urllib.error
import urllib.request
import uuid
from datetime import timezone
from pathlib import Path

from canary.errors import UsageError

VERSION = "0.1.0"  # tracer's version (tracer/__init__.py imports this module)
PRODUCER = f"https://github.com/tracer/tracer/tree/v{VERSION}"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
# The tracer_export facet's own JSON Schema ships as package data; OpenLineage
# asks a custom facet's _schemaURL to name its schema, so it names that file at
# the release that defined this version of the facet (tags never move). When
# the facet changes, change the file's $id and FACET_SCHEMA_RELEASE together.
FACET_SCHEMA_FILE = "schemas/TracerExportRunFacet.json"  # inside the tracer package
FACET_SCHEMA_RELEASE = "v0.1.0"
FACET_SCHEMA_ID = f"https://raw.githubusercontent.com/tracer/tracer/{FACET_SCHEMA_RELEASE}/tracer/{FACET_SCHEMA_FILE}"
FACET_SCHEMA_URL = f"{FACET_SCHEMA_ID}#/$defs/TracerExportRunFacet"
SCHEMA_FACET_URL = "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
LINEAGE_FACET_URL = ("https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"
                     "#/$defs/ColumnLineageDatasetFacet")
JOB_NAMESPACE = "tracer"
JOB_NAME = "export"
TIMEOUT_SECONDS = 5.0


def facet_schema() -> dict:
    """The JSON Schema of the ``tracer_export`` run facet (draft 2020-12), for
    a lineage platform that registers custom facets.

    Example: facet_schema()["$id"] == FACET_SCHEMA_ID
    """
    from importlib.resources import files

    return json.loads(files("tracer").joinpath(FACET_SCHEMA_FILE).read_text(encoding="utf-8"))


def _facet(url: str, **fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": url, **fields}


def source_dataset(source: str, source_kind: str, table: str | None) -> tuple[str, str]:
    """(namespace, name) of the source, following OpenLineage's naming:
    files as ``file`` + absolute path, databases as ``scheme://host:port`` +
    ``database.table`` (a query is named by its hash: its text may hold values)."""
    from .sources import is_database_url

    if not is_database_url(source):
        return "file", str(Path(source).expanduser().resolve())
    from sqlalchemy.engine import make_url

    u = make_url(source)
    scheme = u.get_backend_name()
    host = f"{u.host or 'localhost'}" + (f":{u.port}" if u.port else "")
    namespace = f"{scheme}://{host}"
    db = u.database or ""
    if table:
        return namespace, f"{db}.{table}" if db else table
    return namespace, f"{db}.query-{hashlib.sha256(source.encode()).hexdigest()[:12]}"


def build_event(ex, receipt, *, run_id: str | None = None) -> dict:
    """The RunEvent of one finished export, as a JSON-ready dict.

    Example: build_event(job, receipt)["run"]["facets"]["tracer_export"]["export_id"]
    """
    src_ns, src_name = source_dataset(ex.req.source, getattr(ex, "source_kind", "file"), ex.req.table)
    marked = {r.name for r in receipt.columns if r.marked}
    out_ns, out_name = "file", str(ex.out)
    spec = getattr(ex, "output_spec", None)
    in_fields = [{"name": c, "type": "VARCHAR"} for c in ex.info.columns]
    out_fields = [{"name": c, "type": "VARCHAR"} for c in ex.out_cols]
    lineage = {}
    for c in ex.out_cols:
        sub = "TRANSFORMATION" if c in marked else "IDENTITY"
        desc = "fingerprint marks move some values within a stated tolerance" if c in marked else "copied"
        lineage[c] = {"inputFields": [{"namespace": src_ns, "name": src_name, "field": c, "transformations": [
            {"type": "DIRECT", "subtype": sub, "description": desc, "masking": False}]}]}
    event_time = ex.now.replace(tzinfo=timezone.utc) if ex.now.tzinfo is None else ex.now
    return {
        "eventType": "COMPLETE",
        "eventTime": event_time.isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {
            "runId": run_id or str(uuid.uuid4()),
            "facets": {"tracer_export": _facet(
                FACET_SCHEMA_URL, export_id=receipt.export_id, recipient=receipt.recipient,
                purpose=receipt.purpose, approver=receipt.approver,
                retain_until=str(ex.req.retain_until) if ex.req.retain_until else None,
                rows=receipt.rows, canaries=receipt.canaries, key_id=receipt.key_id,
                format=spec.format.value if spec else "csv",
                encoding=spec.encoding if spec else None, sha256=receipt.sha256)},
        },
        "job": {"namespace": JOB_NAMESPACE, "name": JOB_NAME},
        "inputs": [{"namespace": src_ns, "name": src_name,
                    "facets": {"schema": _facet(SCHEMA_FACET_URL, fields=in_fields)}}],
        "outputs": [{"namespace": out_ns, "name": out_name, "facets": {
            "schema": _facet(SCHEMA_FACET_URL, fields=out_fields),
            "columnLineage": _facet(LINEAGE_FACET_URL, fields=lineage)}}],
    }


def check_events_file(path: Path) -> None:
    """Refuse an events file that is not JSON lines: tracer appends a line to
    it, and a delivered copy, a source of record or any other data file
    given by mistake would be changed (an export's CSV gained a JSON line,
    a source then failed to parse). New or empty files are fine."""
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 20)
    except FileNotFoundError:
        return
    except OSError as e:
        raise UsageError(f"--openlineage-file cannot be read ({e.strerror})", path=str(path)) from None
    if not first.strip():
        return
    try:
        ok = isinstance(json.loads(first.decode("utf-8-sig")), dict)
    except (UnicodeDecodeError, ValueError):
        ok = False
    if not ok:
        raise UsageError("--openlineage-file is not a JSON-lines file (its first line is not a JSON object): "
                         "tracer appends events only to such a file or a new one", path=str(path))


def deliver(event: dict, *, file: str | None = None, url: str | None = None,
            timeout: float = TIMEOUT_SECONDS) -> list[str]:
    """Append ``event`` to ``file`` and/or POST it to ``url`` + /api/v1/lineage.
    Returns warnings (one line each) instead of raising: the export stands.

    Example: deliver(event, url="http://marquez:5000")
    """
    warnings = []
    line = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    if file:
        try:
            with open(Path(file).expanduser(), "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as e:
            warnings.append(f"OpenLineage event not written to {file} ({e.strerror})")
    if url:
        endpoint = url.rstrip("/") + "/api/v1/lineage"
        req = urllib.request.Request(endpoint, data=line.encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if not 200 <= resp.status < 300:
                    warnings.append(f"OpenLineage endpoint {endpoint} answered HTTP {resp.status}")
        except urllib.error.HTTPError as e:
            warnings.append(f"OpenLineage endpoint {endpoint} answered HTTP {e.code}")
        except (urllib.error.URLError, OSError, socket.timeout, ValueError) as e:
            reason = getattr(e, "reason", None) or type(e).__name__
            warnings.append(f"OpenLineage event not delivered to {endpoint} ({reason})")
    return warnings


def emit(ex, receipt) -> list[str]:
    """Build and deliver the export's event if a file or URL was asked for."""
    if not (ex.req.openlineage_file or ex.req.openlineage_url):
        return []
    return deliver(build_event(ex, receipt), file=ex.req.openlineage_file, url=ex.req.openlineage_url)
