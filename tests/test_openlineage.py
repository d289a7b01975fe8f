"""OpenLineage (issue 9): each export emits a RunEvent that validates against the
OpenLineage JSON Schema (core 2-0-2 and the facets' own schemas, formats checked)
and that the official client's model accepts, to a file or an HTTP endpoint;
delivery failing never fails the export."""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib.resources import files
from pathlib import Path

import attr
import pytest
from typer.testing import CliRunner

from tracer import ExportRequest, Home, export, init, leaks
from tracer.cli import app
from tracer.openlineage import FACET_SCHEMA_FILE, FACET_SCHEMA_ID, FACET_SCHEMA_URL, SCHEMA_URL, facet_schema
from tracer.synthdata import make_customers, write_csv

ol = pytest.importorskip("openlineage.client", reason="pip install '.[test]' (openlineage-python)")
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState  # noqa: E402
from openlineage.client.generated import column_lineage_dataset as cl  # noqa: E402
from openlineage.client.generated import schema_dataset as sd  # noqa: E402
from openlineage.client.generated.base import RunFacet  # noqa: E402
from openlineage.client.serde import Serde  # noqa: E402

jsonschema = pytest.importorskip("jsonschema", reason="pip install '.[test]' (jsonschema)")
from referencing import Registry, Resource  # noqa: E402

runner = CliRunner()

# -- the OpenLineage JSON Schema ----------------------------------------------
# The spec's files, transcribed as test data (tests/schemas/openlineage/README.md),
# and tracer's own facet schema as shipped in the package, each under its $id.
SPEC_DIR = Path(__file__).parent / "schemas" / "openlineage"
SCHEMAS = {d["$id"]: d for d in [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SPEC_DIR.glob("*.json"))]
           + [facet_schema()]}
REGISTRY = Registry().with_resources((i, Resource.from_contents(d)) for i, d in SCHEMAS.items())
FORMATS = jsonschema.FormatChecker()
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def facet_maps(event: dict):
    """(where, {name: facet}) for every facet map a RunEvent can hold."""
    yield "run", event.get("run", {}).get("facets", {})
    yield "job", event.get("job", {}).get("facets", {})
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for i, d in enumerate(event.get(side, [])):
            yield f"{side}/{i}", d.get("facets", {})
            yield f"{side}/{i}/{extra}", d.get(extra, {})


def spec_errors(event: dict) -> list[str]:
    """Every way ``event`` breaks the spec, one line each: the event against the
    2-0-2 RunEvent, then each facet against the schema its own _schemaURL names
    (a schema we do not hold is an error too)."""
    errors = []

    def check(instance, url, where):
        if not isinstance(url, str) or url.partition("#")[0] not in SCHEMAS:
            errors.append(f"{where}: no known schema at {url!r}")
            return
        validator = jsonschema.Draft202012Validator({"$ref": url}, registry=REGISTRY, format_checker=FORMATS)
        for e in validator.iter_errors(instance):
            errors.append(f"{where}/{'/'.join(map(str, e.absolute_path))}: {e.message}")

    check(event, RUN_EVENT, "event")  # whatever its schemaURL says
    for where, facets in facet_maps(event):
        for name, facet in facets.items():
            check(facet, facet.get("_schemaURL") if isinstance(facet, dict) else None, f"{where}/{name}")
    return errors


@attr.define
class TracerExportRunFacet(RunFacet):
    export_id: str
    recipient: str
    purpose: str | None
    rows: int
    canaries: int


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(800, seed=41), src)
    return src


def rebuild(e: dict) -> RunEvent:
    """Our JSON through the official client's model: required fields and types
    are checked by its constructors and validators."""
    def schema(f):
        return sd.SchemaDatasetFacet(fields=[sd.SchemaDatasetFacetFields(name=x["name"], type=x["type"])
                                             for x in f["fields"]])

    def dataset(d, cls, lineage=False):
        facets = {"schema": schema(d["facets"]["schema"])}
        if lineage:
            facets["columnLineage"] = cl.ColumnLineageDatasetFacet(fields={
                name: cl.Fields(inputFields=[cl.InputField(namespace=i["namespace"], name=i["name"], field=i["field"])
                                             for i in v["inputFields"]])
                for name, v in d["facets"]["columnLineage"]["fields"].items()})
        return cls(namespace=d["namespace"], name=d["name"], facets=facets)

    t = e["run"]["facets"]["tracer_export"]
    facet = TracerExportRunFacet(export_id=t["export_id"], recipient=t["recipient"], purpose=t["purpose"],
                                 rows=t["rows"], canaries=t["canaries"])
    return RunEvent(eventType=RunState(e["eventType"]), eventTime=e["eventTime"], producer=e["producer"],
                    run=Run(runId=e["run"]["runId"], facets={"tracer_export": facet}),
                    job=Job(namespace=e["job"]["namespace"], name=e["job"]["name"]),
                    inputs=[dataset(d, InputDataset) for d in e["inputs"]],
                    outputs=[dataset(d, OutputDataset, lineage=True) for d in e["outputs"]])


def test_an_export_event_validates_against_the_schema_and_the_model(home, source, tmp_path):
    events = tmp_path / "lineage.jsonl"
    out = tmp_path / "vendor.xlsx"
    r = export(ExportRequest(source=str(source), recipient="Vendor", purpose="card offer", out=str(out),
                             columns=["客户号", "姓名", "手机号", "月日均存款"], openlineage_file=str(events)), home=home)
    export(ExportRequest(source=str(source), recipient="Other", purpose="x", out=str(tmp_path / "o.csv"),
                         openlineage_file=str(events)), home=home)
    lines = events.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # appended, one JSON line per export
    for line in lines:
        assert spec_errors(json.loads(line)) == []
    e = json.loads(lines[0])
    assert e["eventType"] == "COMPLETE" and e["schemaURL"] == SCHEMA_URL == RUN_EVENT
    assert e["producer"].startswith("https://")
    assert uuid.UUID(e["run"]["runId"]).version == 4
    assert datetime.fromisoformat(e["eventTime"]).tzinfo is not None
    assert e["job"] == {"namespace": "tracer", "name": "export"}
    model = Serde.to_dict(rebuild(e))
    for bad in ({"run": {**e["run"], "runId": "export-1"}}, {"eventTime": "yesterday"}):
        with pytest.raises(ValueError):  # the model's validators do bite
            rebuild({**e, **bad})
    assert model["run"]["runId"] == e["run"]["runId"] and model["eventType"] == "COMPLETE"
    [inp], [outp] = e["inputs"], e["outputs"]
    assert inp["name"] == str(source.resolve()) and outp["name"] == str(out)
    out_fields = [f["name"] for f in outp["facets"]["schema"]["fields"]]
    assert out_fields == ["客户号", "姓名", "手机号", "月日均存款"]
    lineage = outp["facets"]["columnLineage"]["fields"]
    assert list(lineage) == out_fields  # every output column, and only those, has lineage
    in_fields = {f["name"] for f in inp["facets"]["schema"]["fields"]}
    for col, v in lineage.items():
        [i] = v["inputFields"]
        assert (i["namespace"], i["name"]) == (inp["namespace"], inp["name"]) and i["field"] in in_fields
    assert lineage["月日均存款"]["inputFields"][0]["transformations"][0]["subtype"] == "TRANSFORMATION"
    assert lineage["手机号"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"
    for f in (e["run"]["facets"]["tracer_export"], outp["facets"]["schema"], outp["facets"]["columnLineage"]):
        assert f["_producer"].startswith("https://") and f["_schemaURL"].startswith("https://")
    t = e["run"]["facets"]["tracer_export"]
    assert (t["export_id"], t["recipient"], t["purpose"], t["rows"], t["canaries"]) == \
        (r.export_id, "Vendor", "card offer", r.rows, r.canaries)
    # No customer data: not one identifier or name from the source appears in the event.
    header, rows = leaks.read(source)
    for col in ("客户号", "姓名", "手机号", "身份证号"):
        i = header.index(col)
        assert not any(row[i] in lines[0] for row in rows[:200]), col


class _Collector(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_events_are_posted_to_the_endpoint_and_a_dead_one_is_only_a_warning(home, source, tmp_path, monkeypatch):
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    server.timeout = 10
    thread = threading.Thread(target=server.handle_request, daemon=True)  # one request, then it stops
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        r = runner.invoke(app, ["export", str(source), "--recipient", "Marquez user", "--out", str(tmp_path / "a.csv"),
                                "--home", str(home.root), "--openlineage-url", url, "-q"], catch_exceptions=False)
        thread.join(15)
    finally:
        server.server_close()
    assert r.exit_code == 0 and r.stderr == ""
    [(path, ctype, body)] = _Collector.received
    assert path == "/api/v1/lineage" and ctype == "application/json"
    posted = json.loads(body)
    assert spec_errors(posted) == [] and posted["run"]["facets"]["tracer_export"]["recipient"] == "Marquez user"
    # The environment variable works too; nothing listens on the closed port: a warning, exit 0.
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    r = runner.invoke(app, ["export", str(source), "--recipient", "Marquez user", "--out", str(tmp_path / "b.csv"),
                            "--home", str(home.root), "-q"], catch_exceptions=False)
    assert r.exit_code == 0 and (tmp_path / "b.csv").exists()
    assert r.stderr.startswith("Warning: OpenLineage event not delivered to " + url + "/api/v1/lineage")


@pytest.mark.parametrize("kind", ["gbk-csv", "parquet", "sqlite-query", "sqlite-table"])
def test_every_kind_of_export_emits_a_valid_event(kind, home, source, tmp_path):
    """Each output format and source kind: the event validates, names its datasets and format."""
    src, table, query, out, enc = str(source), None, None, tmp_path / "o.csv", None
    if kind == "gbk-csv":
        enc = "gbk"
    elif kind == "parquet":
        out = tmp_path / "o.parquet"
    else:
        db = tmp_path / "bank.db"
        header, rows = leaks.read(source)
        with sqlite3.connect(db) as con:
            con.execute(f"CREATE TABLE customers ({', '.join(f'{chr(34)}{c}{chr(34)} TEXT' for c in header)})")
            con.executemany(f"INSERT INTO customers VALUES ({', '.join('?' * len(header))})", rows)
        src = f"sqlite:///{db}"
        table, query = ("customers", None) if kind == "sqlite-table" else (None, "SELECT * FROM customers")
    events = tmp_path / "events.jsonl"
    r = export(ExportRequest(source=src, recipient="Vendor", purpose="p", out=str(out), table=table, query=query,
                             encoding=enc, openlineage_file=str(events)), home=home)
    [line] = events.read_text(encoding="utf-8").splitlines()
    e = json.loads(line)
    assert spec_errors(e) == []
    facet = e["run"]["facets"]["tracer_export"]
    want = {"gbk-csv": ("csv", "gbk"), "parquet": ("parquet", None)}.get(kind, ("csv", "utf-8-sig"))
    assert (facet["format"], facet["encoding"], facet["sha256"]) == (*want, r.sha256)
    [inp] = e["inputs"]
    if kind.startswith("sqlite"):
        assert inp["namespace"] == "sqlite://localhost"
        assert inp["name"].startswith(f"{tmp_path / 'bank.db'}.{'customers' if table else 'query-'}")
        assert "SELECT" not in line  # a query's text may hold values: named by its hash only


def test_the_facet_schema_ships_with_tracer_and_its_url_names_it():
    shipped = json.loads(files("tracer").joinpath(FACET_SCHEMA_FILE).read_text(encoding="utf-8"))
    assert shipped == facet_schema() and shipped["$id"] == FACET_SCHEMA_ID
    assert shipped["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    base, _, pointer = FACET_SCHEMA_URL.partition("#")
    assert base == FACET_SCHEMA_ID and base.endswith("/tracer/" + FACET_SCHEMA_FILE)
    assert pointer == "/$defs/TracerExportRunFacet" and "TracerExportRunFacet" in shipped["$defs"]
    jsonschema.Draft202012Validator.check_schema(shipped)
    for d in SCHEMAS.values():  # the transcribed spec files are valid schemas themselves
        jsonschema.Draft202012Validator.check_schema(d)


@pytest.fixture(scope="module")
def event(tmp_path_factory):
    root = tmp_path_factory.mktemp("ol")
    h = Home.at(root / "home")
    init(h)
    write_csv(make_customers(300, seed=43), root / "c.csv")
    export(ExportRequest(source=str(root / "c.csv"), recipient="V", purpose="p", out=str(root / "o.csv"),
                         retain_until=datetime(2027, 6, 30).date(), openlineage_file=str(root / "e.jsonl")), home=h)
    return json.loads((root / "e.jsonl").read_text(encoding="utf-8"))


def test_the_facet_schema_declares_exactly_what_tracer_emits(event):
    facet = event["run"]["facets"]["tracer_export"]
    declared = set(facet_schema()["$defs"]["TracerExportRunFacet"]["allOf"][1]["properties"])
    assert set(facet) == declared  # nothing undeclared sent, nothing declared missing
    assert facet["retain_until"] == "2027-06-30"


def _drop(path):
    def f(e):
        *head, last = path
        for k in head:
            e = e[k]
        del e[last]
    return f


def _set(path, value):
    def f(e):
        *head, last = path
        for k in head:
            e = e[k]
        e[last] = value
    return f


SCHEMA_COL = ["outputs", 0, "facets", "schema"]
LINEAGE_COL = ["outputs", 0, "facets", "columnLineage", "fields"]
TRACER = ["run", "facets", "tracer_export"]


@pytest.mark.parametrize("break_it, message", [
    (_drop(["run", "runId"]), "run: 'runId' is a required property"),
    (_set(["run", "runId"], "export-1"), "run/runId: 'export-1' is not a 'uuid'"),
    (_set(["eventTime"], "yesterday"), "eventTime: 'yesterday' is not a 'date-time'"),
    (_set(["producer"], "tracer 0.1"), "producer: 'tracer 0.1' is not a 'uri'"),
    (_drop(["schemaURL"]), "'schemaURL' is a required property"),
    (_set(["eventType"], "DONE"), "eventType: 'DONE' is not one of"),
    (_drop(["job", "name"]), "job: 'name' is a required property"),
    (_drop(["inputs", 0, "namespace"]), "inputs/0: 'namespace' is a required property"),
    (_drop(SCHEMA_COL + ["_producer"]), "outputs/0/facets/schema: '_producer' is a required property"),
    (_set(SCHEMA_COL + ["_schemaURL"], "see the docs"), "no known schema at 'see the docs'"),
    (_drop(SCHEMA_COL + ["fields", 0, "name"]), "schema/fields/0: 'name' is a required property"),
    (_drop(LINEAGE_COL + ["姓名", "inputFields", 0, "field"]), "inputFields/0: 'field' is a required property"),
    (_drop(LINEAGE_COL + ["姓名", "inputFields"]), "'inputFields' is a required property"),
    (_drop(TRACER + ["_producer"]), "tracer_export: '_producer' is a required property"),
    (_set(TRACER + ["phone"], "13800138000"), "Additional properties are not allowed ('phone' was unexpected)"),
    (_set(TRACER + ["rows"], "1,529"), "tracer_export/rows: '1,529' is not of type 'integer'"),
    (_set(TRACER + ["retain_until"], "next June"), "tracer_export/retain_until: 'next June' is not a 'date'"),
])
def test_a_broken_event_fails_validation(event, break_it, message):
    """The schema check is not vacuous: each defect, alone, is caught and named."""
    assert spec_errors(event) == []
    broken = copy.deepcopy(event)
    break_it(broken)
    errors = spec_errors(broken)
    assert any(message in e for e in errors), errors
