"""OpenLineage (issue 9): each export emits a RunEvent that the official client's
model accepts, to a file or an HTTP endpoint; delivery failing never fails the export."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import attr
import pytest
from typer.testing import CliRunner

from tracer import ExportRequest, export, leaks
from tracer.cli import app
from tracer.openlineage import SCHEMA_URL
from tracer.synthdata import make_customers, write_csv

ol = pytest.importorskip("openlineage.client", reason="pip install '.[test]' (openlineage-python)")
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState  # noqa: E402
from openlineage.client.generated import column_lineage_dataset as cl  # noqa: E402
from openlineage.client.generated import schema_dataset as sd  # noqa: E402
from openlineage.client.generated.base import RunFacet  # noqa: E402
from openlineage.client.serde import Serde  # noqa: E402

runner = CliRunner()


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


def test_an_export_event_validates_against_the_openlineage_model(home, source, tmp_path):
    events = tmp_path / "lineage.jsonl"
    out = tmp_path / "vendor.xlsx"
    r = export(ExportRequest(source=str(source), recipient="Vendor", purpose="card offer", out=str(out),
                             columns=["客户号", "姓名", "手机号", "月日均存款"], openlineage_file=str(events)), home=home)
    export(ExportRequest(source=str(source), recipient="Other", purpose="x", out=str(tmp_path / "o.csv"),
                         openlineage_file=str(events)), home=home)
    lines = events.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # appended, one JSON line per export
    e = json.loads(lines[0])
    assert e["eventType"] == "COMPLETE" and e["schemaURL"] == SCHEMA_URL and e["producer"].startswith("https://")
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
    assert json.loads(body)["run"]["facets"]["tracer_export"]["recipient"] == "Marquez user"
    # The environment variable works too; nothing listens on the closed port: a warning, exit 0.
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    r = runner.invoke(app, ["export", str(source), "--recipient", "Marquez user", "--out", str(tmp_path / "b.csv"),
                            "--home", str(home.root), "-q"], catch_exceptions=False)
    assert r.exit_code == 0 and (tmp_path / "b.csv").exists()
    assert r.stderr.startswith("Warning: OpenLineage event not delivered to " + url + "/api/v1/lineage")
