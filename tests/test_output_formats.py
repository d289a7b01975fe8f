"""Output formats (issue 9): CSV with a BOM or in GBK, XLSX with every cell text, Parquet;
each attributable, chosen by --format or the output's extension."""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow as pa
import pytest
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from tracer import ExportRequest, Home, attribute, export, init, leaks
from tracer.cli import app
from tracer.synthdata import make_customers, write_csv
from tracer.writers import OutputFormat, resolve

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    home = Home.at(root / "home")
    init(home)
    src = root / "customers.csv"
    t = make_customers(2500, seed=31)
    # Customer numbers with leading zeros: the first thing a number cell would lose.
    t = t.set_column(0, t.column_names[0], pa.array(["000" + v[3:] for v in t.column(0).to_pylist()]))
    write_csv(t, src)
    outs = {}
    for name, out, extra in (("xlsx", "a.xlsx", {}), ("gbk", "b.csv", {"encoding": "gbk"}),
                             ("parquet", "c.parquet", {}), ("forced", "d.dat", {"format": "parquet"})):
        r = export(ExportRequest(source=str(src), recipient=name, purpose="formats", out=str(root / out),
                                 **extra), home=home)
        outs[name] = (root / out, r)
    return {"home": home, "src": src, "table": t, "outs": outs, "root": root}


@pytest.mark.parametrize("fmt, encoding, out, expected", [
    (None, None, "x.csv", (OutputFormat.CSV, "utf-8-sig")),
    (None, "GBK", "x.csv", (OutputFormat.CSV, "gbk")),
    (None, None, "x.XLSX", (OutputFormat.XLSX, None)),
    (None, None, "x.parquet", (OutputFormat.PARQUET, None)),
    (None, None, "x.txt", (OutputFormat.CSV, "utf-8-sig")),
    ("xlsx", None, "x.dat", (OutputFormat.XLSX, None)),
])
def test_format_comes_from_the_option_or_the_extension(fmt, encoding, out, expected):
    spec = resolve(fmt, encoding, out)
    assert (spec.format, spec.encoding) == expected


def test_xlsx_round_trips_every_id_number_and_phone_exactly(world):
    path, receipt = world["outs"]["xlsx"]
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)
    header, body = rows[0], rows[1:]
    assert all(isinstance(v, str) for r in body for v in r)  # every cell is text, none a number
    t = world["table"]
    got = {name: {r[header.index(name)] for r in body} for name in ("客户号", "身份证号", "手机号")}
    for name in ("客户号", "身份证号", "手机号"):
        want = set(t.column(name).to_pylist())
        assert want <= got[name], name  # every source value, digit for digit (leading zeros, X)
    assert any(v.startswith("000") for v in got["客户号"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == receipt.sha256
    assert [c.recipient for c in attribute(path, home=world["home"]).accused] == ["xlsx"]


def test_gbk_csv_decodes_as_gbk_and_is_attributable(world):
    path, receipt = world["outs"]["gbk"]
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("gbk")  # strict
    assert text.splitlines()[0].startswith("客户号,姓名")
    assert hashlib.sha256(raw).hexdigest() == receipt.sha256
    assert [c.recipient for c in attribute(path, home=world["home"]).accused] == ["gbk"]


def test_parquet_is_all_text_and_attributable(world):
    for name in ("parquet", "forced"):
        path, receipt = world["outs"][name]
        types = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        assert {t[1] for t in types} == {"VARCHAR"}
        assert hashlib.sha256(path.read_bytes()).hexdigest() == receipt.sha256
        assert [c.recipient for c in attribute(path, home=world["home"]).accused] == [name]


def test_a_value_gbk_cannot_hold_fails_naming_the_column_not_the_value(world, tmp_path):
    header, rows = leaks.read(world["src"])
    addr = header.index("地址")
    rows[7][addr] = rows[7][addr] + "𠀀路"  # CJK extension B: outside GBK
    src = tmp_path / "odd.csv"
    leaks.write(src, (header, rows))
    out = tmp_path / "vendor.csv"
    r = run("export", src, "--recipient", "legacy", "--out", out, "--encoding", "gbk", "--home", world["home"].root)
    assert r.exit_code == 1
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "column '地址'" in line and "GBK" in line
    assert rows[7][addr] not in line and "𠀀" not in line
    assert not out.exists() and not list(tmp_path.glob(".vendor.csv*"))


def test_a_value_longer_than_an_xlsx_cell_fails_naming_the_column(world, tmp_path):
    """Excel keeps 32,767 characters of a cell and cuts the rest when it opens
    the file: the export refuses rather than send a copy that changes."""
    header, rows = leaks.read(world["src"])
    addr = header.index("地址")
    rows[3][addr] = "备" * 40_000
    src = tmp_path / "long.csv"
    leaks.write(src, (header, rows))
    out = tmp_path / "vendor.xlsx"
    r = run("export", src, "--recipient", "legacy", "--out", out, "--home", world["home"].root)
    assert r.exit_code == 1 and "column '地址'" in r.stderr and "32,767" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_encoding_applies_to_csv_only_and_unknown_formats_are_refused(world, tmp_path):
    r = run("export", world["src"], "--recipient", "x", "--out", tmp_path / "x.xlsx", "--encoding", "gbk",
            "--home", world["home"].root)
    assert r.exit_code == 2 and "--encoding applies to CSV output only" in r.stderr
    r = run("export", world["src"], "--recipient", "x", "--out", tmp_path / "x.csv", "--format", "ods",
            "--home", world["home"].root)
    assert r.exit_code == 2 and "--format must be csv, xlsx or parquet" in r.stderr
    # A workbook written under a .csv name opened as garbage; an unknown or no extension takes --format.
    r = run("export", world["src"], "--recipient", "x", "--out", tmp_path / "x.csv", "--format", "xlsx",
            "--home", world["home"].root)
    assert r.exit_code == 2 and "--format xlsx contradicts the output's name 'x.csv' (csv)" in r.stderr
    assert not (tmp_path / "x.csv").exists()
    assert run("init", "--home", tmp_path / "home").exit_code == 0  # its own: the world's home keeps no export
    r = run("export", world["src"], "--recipient", "x", "--out", tmp_path / "x.dat", "--format", "xlsx",
            "--home", tmp_path / "home", "-q")
    assert r.exit_code == 0 and (tmp_path / "x.dat").read_bytes()[:2] == b"PK", r.output



# --- the CSV encoder and the row assembly ------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tracer.assemble import formula_mask, neutralise  # noqa: E402
from tracer.writers import csv_lines  # noqa: E402

_cell = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('ab 中,"#\n\r\t\'=+-@;0.9')), max_size=8))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_cell, _cell), min_size=1, max_size=12))
def test_csv_encoder_writes_the_bytes_duckdb_copy_writes(rows):
    """tracer.writers encodes CSV with Arrow compute; it must write what
    DuckDB's COPY did (quotes, doubled quotes, empty vs missing), byte for byte."""
    t = pa.table({"a": pa.array([r[0] for r in rows], pa.string()),
                  "b,c": pa.array([r[1] for r in rows], pa.string())})
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        duckdb.connect().execute(f"COPY (SELECT * FROM t) TO '{d}/x.csv' (FORMAT csv, HEADER true, QUOTE '\"')")
        with open(f"{d}/x.csv", "rb") as f:
            expected = f.read()
    header = bytes(csv_lines([pa.array([c], pa.string()) for c in t.column_names]))
    assert header + bytes(csv_lines(t.columns)) == expected


def test_formula_cells_are_found_without_touching_numbers_phones_or_placeholders():
    values = ["=1+2", "@SUM(A1)", "+cmd", "-x", "\tx", "\rx", "-12.50", "+86 138 0013 8000", "-", "1,234.5",
              "abc", "", None, "中=", "+1e5", "=", "-.5"]
    mask = formula_mask(pa.array(values, pa.string()))
    assert [v for v, m in zip(values, mask) if m] == ["=1+2", "@SUM(A1)", "+cmd", "-x", "\tx", "\rx", "="]
    fixed, touched = neutralise(pa.table({"v": pa.array(values, pa.string())}))
    assert touched == 7 and fixed.column("v").to_pylist()[:3] == ["'=1+2", "'@SUM(A1)", "'+cmd"]
    assert fixed.column("v").to_pylist()[6:15] == values[6:15] and fixed.column("v")[15].as_py() == "'="
    assert formula_mask(pa.array(["plain", None], pa.string())) is None
