"""Bad input (issue 7): every kind of junk is one line naming the file (and the
row and column where they apply), exit 1 (2 for usage), no traceback unless
--debug; a failed export leaves no file and no record; junk given to
`attribute` accuses nobody; every reader survives random bytes and random CSV
shapes; formula-like cells are neutralised in the output."""

from __future__ import annotations

import codecs
import csv
import io
import os
import random
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from canary.errors import TracerError, UnreadableFile
from forensics.readers import read_table
from tracer import ExportRequest, Home, attribute, export, init, leaks, list_exports
from tracer.cli import app
from tracer.synthdata import make_customers, write_csv

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def world(new_world):
    root, h, good = new_world("bad", 300, 61)
    header, rows = leaks.read(good)
    secrets = {r[header.index("身份证号")] for r in rows} | {r[header.index("手机号")] for r in rows}
    return {"home": h, "root": root, "good": good, "header": header, "rows": rows, "pii": secrets}


def text_of(world) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(world["header"])
    w.writerows(world["rows"])
    return buf.getvalue()


def bad_files(world) -> dict[str, bytes]:
    """Each bad source, made from the good one."""
    text = text_of(world)
    data = codecs.BOM_UTF8 + text.encode()
    lines = text.splitlines(keepends=True)
    ragged = lines[:40] + [lines[40].rstrip("\n") + ",extra,fields\n"] + lines[41:]
    # Every row from the second on is ragged: DuckDB's sniffer would take row 3
    # for the header and drop the two lines above it.
    ragged_from_3 = lines[:2] + [ln.rstrip("\n") + ",extra\n" for ln in lines[2:]]
    titled_ragged = ["客户名单 2024年3月\n"] + ragged  # a title line: rows keep the file's numbering
    nul = lines[:7] + [lines[7].replace(",", ",\x00", 1)] + lines[8:]
    big = [lines[0].rstrip("\n") + ",备注\n"] + [ln.rstrip("\n") + ",\n" for ln in lines[1:]]
    big[12] = big[12].rstrip("\n") + "A" * (10 * 1024 * 1024) + "\n"
    cut_char = data[: data.rindex("路".encode()) + 1]  # mid-character
    cut_row = data[: data.rindex(b",", 0, len(data) - 30)]  # the last row loses its last fields
    return {
        "empty": b"",
        "binary": random.Random(5).randbytes(4096),
        "truncated-mid-character": cut_char,
        "truncated-mid-row": cut_row,
        "truncated-in-quotes": data + b'123,"never closed',
        "ragged": "".join(ragged).encode(),
        "ragged-from-row-3": "".join(ragged_from_3).encode(),
        "titled-ragged": "".join(titled_ragged).encode(),
        "nul-bytes": "".join(nul).encode(),
        "10-mb-field": "".join(big).encode(),
        "header-only": lines[0].encode(),
        "broken-xlsx": b"PK\x03\x04" + random.Random(6).randbytes(200),
        "broken-json": b'[{"a": 1}, {"a": ',
    }


# file: (row, column) the error must name, None where no row applies
WHERE = {
    "empty": None, "binary": None, "truncated-mid-character": (None, None), "truncated-mid-row": (301, None),
    "truncated-in-quotes": (302, None), "ragged": (41, None), "ragged-from-row-3": (3, None),
    "titled-ragged": (42, None), "nul-bytes": (8, None),
    "10-mb-field": (13, "备注"), "header-only": None, "broken-xlsx": None, "broken-json": None,
}


def assert_one_line_error(r, world, code: int = 1, needle: str | None = None) -> str:
    assert r.exit_code == code, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.output
    if needle:
        assert needle in lines[0], lines[0]
    assert not any(p in r.output for p in world["pii"])  # never a customer value in an error
    return lines[0]


def assert_nothing_recorded(world, out: Path) -> None:
    h = world["home"]
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file
    assert list_exports(home=h) == []
    for scratch in (h.pending_dir, h.work_dir):  # no journal entry, no scratch copy of the source
        assert not scratch.exists() or list(scratch.iterdir()) == []
    con = duckdb.connect(str(h.store_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM ledger").fetchone()[0] == 1  # only init's entry
    finally:
        con.close()


@pytest.mark.parametrize("name", list(WHERE))
def test_a_bad_source_is_one_line_naming_file_row_and_column(world, tmp_path, name):
    src = tmp_path / f"{name}.csv"
    src.write_bytes(bad_files(world)[name])
    out = tmp_path / "out" / "x.csv"
    out.parent.mkdir()
    r = run("export", src, "--recipient", "R", "--purpose", "p", "--out", out, "--home", world["home"].root)
    line = assert_one_line_error(r, world, needle=src.name)
    where = WHERE[name]
    if where is not None:
        row, column = where
        assert ", row " in line
        if row is not None:
            assert f", row {row}:" in line or f", row {row}," in line
        if column is not None:
            assert f"column '{column}'" in line
    assert_nothing_recorded(world, out)


def test_a_title_above_the_table_is_skipped_and_said(world, tmp_path):
    """A report's title (and a blank line) above the header: every row is
    exported, the receipt says what was skipped, and a leak of it links."""
    src = tmp_path / "titled.csv"
    src.write_text("客户名单 2024年3月\n\n" + text_of(world), encoding="utf-8")
    out = tmp_path / "x.csv"
    home = Home.at(tmp_path / "home")  # its own: the world's home must stay empty of exports
    init(home)
    r = export(ExportRequest(str(src), "Titled", "p", str(out)), home=home)
    assert r.rows == len(world["rows"])
    assert any("first 2 line(s) were a title" in n for n in r.notes)
    header, rows = leaks.read(out)
    assert header == world["header"] and len(rows) == len(world["rows"]) + r.canaries
    leak = tmp_path / "leak.csv"
    leak.write_text("泄露数据\n" + "".join(ln for ln in out.read_text(encoding="utf-8-sig").splitlines(True)[:101]),
                    encoding="utf-8")
    v = attribute(leak, home=home)
    assert v.leak["parsed"]["rows"] == 100 and any("title" in n for n in v.leak["parsed"]["notes"])
    assert [c.recipient for c in v.accused] == ["Titled"]


def test_a_title_row_above_a_sheet_is_skipped_and_said(world, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["客户名单 2024年3月"])
    ws.append(world["header"])
    for r in world["rows"]:
        ws.append(r)  # as text: IDs keep their digits
    src = tmp_path / "titled.xlsx"
    wb.save(src)
    info = read_table(duckdb.connect(), src, "t")
    assert info.columns == world["header"] and info.rows == len(world["rows"]) and info.skipped_lines == 1
    assert any("a title above the table" in n for n in info.notes)


def test_a_cover_sheet_before_the_data_is_passed_over_and_said(world, tmp_path):
    """A workbook whose first sheet is a note: the sheet with the most cells
    is read, and the receipt names the sheets that were not exported."""
    from openpyxl import Workbook

    wb = Workbook()
    cover = wb.active
    cover.title = "说明"
    cover.append(["本表为客户名单，仅供内部使用"])
    data = wb.create_sheet("客户")
    data.append(world["header"])
    for r in world["rows"]:
        data.append(r)
    src = tmp_path / "cover.xlsx"
    wb.save(src)
    home = Home.at(tmp_path / "home")
    init(home)
    r = export(ExportRequest(str(src), "Sheets", "p", str(tmp_path / "x.csv")), home=home)
    assert r.rows == len(world["rows"])
    assert any(n.startswith("not read: other sheets that hold data, '说明' (1 row)") for n in r.notes)
    v = attribute(src, home=home)  # the workbook itself, as a leak, is read the same way
    assert v.leak["parsed"]["rows"] == len(world["rows"])


def test_totals_at_the_end_are_not_customers(world, tmp_path):
    """合计/小计 rows closing a list are left out and said: exported, a total
    would be marked like a balance and would stop adding up (a tell). A
    customer who merely shares a word with a total stays."""
    src = tmp_path / "totals.csv"
    width = len(world["header"])
    src.write_text(text_of(world) + "小计" + "," * (width - 1) + "\n" + "合计：300户" + "," * (width - 2) + ",1234567.00\n",
                   encoding="utf-8")
    home = Home.at(tmp_path / "home")
    init(home)
    r = export(ExportRequest(str(src), "Totals", "p", str(tmp_path / "x.csv")), home=home)
    assert r.rows == len(world["rows"])
    assert any(n.startswith("not read: the last 2 row(s), totals") for n in r.notes)
    assert "合计" not in (tmp_path / "x.csv").read_text(encoding="utf-8-sig")
    kept = tmp_path / "kept.csv"
    kept.write_text("客户号,姓名,余额,电话\n1,张三,100.00,13800138000\n2,Sum,50.00,13800138001\n", encoding="utf-8")
    assert read_table(duckdb.connect(), kept, "t").rows == 2


def test_a_title_needs_a_table_of_three_columns_below_it(tmp_path):
    """Space-separated lines whose addresses hold one comma are not a comma
    table under a one-line title: they are still read by spaces."""
    src = tmp_path / "spaced.txt"
    src.write_text("name phone address\n张三 13800138000 北京市,朝阳区\n李四 13900139000 上海市,浦东新区\n",
                   encoding="utf-8")
    info = read_table(duckdb.connect(), src, "t")
    assert info.columns == ["name", "phone", "address"] and info.rows == 2 and info.skipped_lines == 0


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x0c", "\x85", "\x1e"])
def test_line_separators_inside_cells_are_not_line_breaks(tmp_path, separator):
    """An address pasted from a web page may hold U+2028 or a form feed,
    which str.splitlines cuts at and a CSV parser does not: the sniffing
    must see the lines the parser sees (a titled list used to go to the
    whitespace reader and come out as two columns of fragments)."""
    rows = [f"张伟{i},1380013800{i},北京市{separator}朝阳区{i}号{separator}二单元,{i}000.00" for i in range(4)]
    src = tmp_path / "pasted.csv"
    src.write_text("客户名单 2026年11月\n姓名,手机号,地址,余额\n" + "\n".join(rows) + "\n", encoding="utf-8")
    con = duckdb.connect()
    info = read_table(con, src, "t")
    assert (info.format, info.columns, info.rows, info.skipped_lines) == ("csv", ["姓名", "手机号", "地址", "余额"], 4, 1)
    assert con.execute("SELECT 地址 FROM t WHERE 姓名 = '张伟2'").fetchone()[0] == f"北京市{separator}朝阳区2号{separator}二单元"


@pytest.mark.parametrize("case", ["missing", "directory", "out-is-directory", "no-out-folder", "unwritable",
                                  "unknown-column", "where-syntax", "where-runtime", "where-stacked",
                                  "where-unknown-column", "bad-option-value"])
def test_bad_paths_and_options_are_one_line(world, tmp_path, case):
    out = tmp_path / "out" / "x.csv"
    out.parent.mkdir()
    src, extra, code, needle = world["good"], [], 1, None
    if case == "missing":
        src, needle = tmp_path / "nope.csv", "nope.csv: no such file"
    elif case == "directory":
        src, needle = tmp_path, "is a directory"
    elif case == "out-is-directory":
        out, code, needle = out.parent, 2, "--out is a directory"
    elif case == "no-out-folder":
        out, needle = tmp_path / "missing" / "x.csv", "output folder does not exist"
    elif case == "unwritable":
        if os.geteuid() != 0:
            os.chmod(out.parent, 0o500)
        elif os.access("/sys", os.F_OK):
            out = Path("/sys/tracer-x.csv")  # root writes anywhere but to sysfs
        else:
            pytest.skip("running as root without /sys: no unwritable folder to use")
        needle = "not writable"
    elif case == "unknown-column":
        extra, needle = ["--columns", "姓名,余额"], "unknown column '余额'"
    elif case == "where-syntax":
        extra, needle = ["--where", '"月日均存款" >>> 3'], "--where does not apply"
    elif case == "where-runtime":
        ident = world["rows"][0][world["header"].index("身份证号")]
        extra, needle = ["--where", f"\"身份证号\" <> '{ident}' AND CAST(\"姓名\" AS INTEGER) > 0"], "cannot be evaluated"
    elif case == "where-stacked":
        extra, needle = ["--where", "1=1; DROP TABLE src"], "single SQL condition"
    elif case == "where-unknown-column":
        extra, needle = ["--where", "余额 > 3"], "--where does not apply"
    elif case == "bad-option-value":
        extra, code, needle = ["--mark-fraction", "2"], 2, "--mark-fraction"
    try:
        r = run("export", src, "--recipient", "R", "--purpose", "p", "--out", out, "--home", world["home"].root,
                *extra)
        line = assert_one_line_error(r, world, code=code, needle=needle)
        if case not in ("out-is-directory", "bad-option-value"):
            named = {"no-out-folder": out.parent, "unwritable": out.parent}.get(case, src)
            assert str(named.name) in line
    finally:
        os.chmod(tmp_path / "out", 0o700)
    if out.parent.exists() and out.parent != Path("/sys"):
        assert_nothing_recorded(world, out if not out.is_dir() else out / "x.csv")


@pytest.mark.parametrize("where", ['CAST("姓名" AS DATE) IS NULL', "json_extract(\"地址\", '$.a') IS NULL",
                                   'from_base64("姓名") IS NULL', "json_extract(\"身份证号\", '$.a') IS NULL",
                                   'unhex("姓名")::VARCHAR IS NULL'])
def test_a_filter_failing_on_a_value_does_not_print_it(world, tmp_path, where):
    """DuckDB's runtime errors quote the value they failed on, in double
    quotes ("贺瑾娜" is not a date; Input: "云南省昆明市..."), which the
    redaction kept; unhex() of a name cut a character and was an internal error."""
    people = {r[world["header"].index(c)] for r in world["rows"] for c in ("姓名", "地址", "身份证号")}
    r = run("export", world["good"], "--recipient", "R", "--purpose", "p", "--out", tmp_path / "x.csv",
            "--home", world["home"].root, "--where", where)
    line = assert_one_line_error(r, world, needle="--where cannot be evaluated")
    assert not [p for p in people if p in line or p[:6] in line.replace("身份证号", "")], line
    assert_nothing_recorded(world, tmp_path / "x.csv")


def test_redaction_drops_a_value_cut_before_its_closing_quote():
    from canary.errors import safe_detail

    cut = safe_detail(ValueError('Malformed JSON. Input: "云南省昆明市盘龙区建设路94号9栋20...'), names={"地址"})
    assert "云南" not in cut and cut.endswith('Input: "…')
    assert safe_detail(ValueError('column "地址" is "north"'), names={"地址"}) == 'column "地址" is "…"'
    # A function's signature says which types did not match: kept (it was "argument types '…'").
    assert safe_detail(ValueError("argument types '~~(DOUBLE, INTEGER_LITERAL)'")) == \
        "argument types '~~(DOUBLE, INTEGER_LITERAL)'"
    assert safe_detail(ValueError("string '张伟' or '110105(X)' or '王(X)'")) == "string '…' or '…' or '…'"


def test_a_bom_then_another_encoding_names_the_byte_where_it_stops_being_utf8(world, tmp_path):
    src = tmp_path / "bom_gbk.csv"
    src.write_bytes(codecs.BOM_UTF8 + "姓名,手机号\n张伟,13800138000\n".encode("gbk"))
    r = run("export", src, "--recipient", "R", "--purpose", "p", "--out", tmp_path / "x.csv", "--home", world["home"].root)
    assert_one_line_error(r, world, needle="row 1: not valid UTF-8 at byte 3 ")  # was "byte 0": the BOM's 3 bytes


def test_a_workbook_row_wider_than_its_header_is_refused_as_a_source_and_read_as_a_leak(world, tmp_path):
    """A stray value right of the header's last name gave every exported row an
    extra column4 in silence, where a CSV with the same defect is refused."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    header, rows = world["header"], world["rows"]
    ws.append(header)
    for r in rows[:40]:
        ws.append(r)
    ws.append(rows[40] + ["stray"])
    wb.save(tmp_path / "ragged.xlsx")
    r = run("export", tmp_path / "ragged.xlsx", "--recipient", "R", "--purpose", "p", "--out", tmp_path / "x.csv",
            "--home", world["home"].root)
    assert_one_line_error(r, world, needle=f"row 42: has a value in column {len(header) + 1}, right of the header")
    assert_nothing_recorded(world, tmp_path / "x.csv")
    v = attribute(tmp_path / "ragged.xlsx", home=world["home"])
    assert v.rows == 41 and any("read leniently" in n and "row 42" in n for n in v.leak["parsed"]["notes"]), v.leak


def test_a_full_disk_under_the_home_is_one_line(world, tmp_path, monkeypatch):
    """ENOSPC writing the export journal was an internal error (OSError)."""
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    h = world["home"]
    r = run("export", world["good"], "--recipient", "R", "--purpose", "p", "--out", tmp_path / "x.csv",
            "--home", h.root)
    monkeypatch.undo()
    assert_one_line_error(r, world, needle="cannot write the export journal (No space left on device)")
    assert_nothing_recorded(world, tmp_path / "x.csv")


@pytest.mark.parametrize("case", ["folder-is-a-file", "name-too-long"])
def test_an_output_that_cannot_be_a_file_is_one_line_and_wedges_nothing(world, tmp_path, case):
    """--out under a file ("a_file/x.csv") failed as an internal error and left
    a journal entry no recovery could remove (unlinking its temporary file
    raised NotADirectoryError), so every later export and `tracer verify`
    failed the same way; a name longer than the file system takes was an
    internal error too."""
    from tracer import journal

    h = world["home"]
    (tmp_path / "a_file").write_text("hi")
    out, needle = {"folder-is-a-file": (tmp_path / "a_file" / "x.csv", "output folder is a file"),
                   "name-too-long": (tmp_path / ("a" * 300 + ".csv"), "--out cannot be a file here")}[case]
    r = run("export", world["good"], "--recipient", "R", "--purpose", "p", "--out", out, "--home", h.root)
    assert_one_line_error(r, world, code=1 if case == "folder-is-a-file" else 2, needle=needle)
    assert not h.pending_dir.exists() or list(h.pending_dir.iterdir()) == []
    assert run("verify", "--home", h.root).exit_code == 0
    assert list_exports(home=h) == []
    # The journal itself, should such a path reach it: refused in one line, no entry left behind.
    with pytest.raises(TracerError, match="not writable"):
        journal.Pending(h, "ex-under-a-file", tmp_path / "a_file" / "y.csv")
    assert not h.pending_dir.exists() or list(h.pending_dir.iterdir()) == []


@pytest.mark.parametrize("case", ["store", "key-file", "journal", "fifo", "device", "export-id-path"])
def test_outputs_that_would_destroy_something_are_refused(world, tmp_path, case):
    """--out over tracer's own store or keys used to succeed and lose the
    whole lineage; over a FIFO or /dev/null, the rename replaced the special
    file itself; an --export-id names files under the home."""
    h = world["home"]
    key_file = next(h.key_dir.glob("*.key"))
    before = {f: f.read_bytes() for f in (h.store_path, key_file)}
    out, extra, needle = tmp_path / "x.csv", [], None
    if case == "store":
        out, needle = h.store_path, "--out would overwrite the lineage store"
    elif case == "key-file":
        out, needle = key_file, "--out would write into the key folder"
    elif case == "journal":
        out, needle = h.pending_dir / "x.csv", "--out would write into the export journal"
        h.pending_dir.mkdir(exist_ok=True)
    elif case == "fifo":
        out, needle = tmp_path / "pipe.csv", "not a regular file"
        os.mkfifo(out)
    elif case == "device":
        out, needle = Path("/dev/null"), "not a regular file"
    elif case == "export-id-path":
        extra, needle = ["--export-id", "../../x"], "--export-id may hold only"
    r = run("export", world["good"], "--recipient", "R", "--purpose", "p", "--out", out, "--home", h.root, *extra)
    assert_one_line_error(r, world, code=2, needle=needle)
    assert all(f.read_bytes() == b for f, b in before.items())
    if case in ("fifo", "device"):
        assert out.is_fifo() if case == "fifo" else out.is_char_device()
    assert_nothing_recorded(world, tmp_path / "x.csv")


@pytest.mark.parametrize("target", ["source", "store", "output"])
def test_the_openlineage_file_is_never_one_of_tracers_own(world, tmp_path, target):
    """--openlineage-file appends a JSON line: into the source it broke the
    next export, into the output it changed the delivered file and sent the
    event to the recipient."""
    h = world["home"]
    out = tmp_path / "x.csv"
    events = {"source": world["good"], "store": h.store_path, "output": out}[target]
    before = Path(events).read_bytes() if Path(events).exists() else None
    r = run("export", world["good"], "--recipient", "R", "--purpose", "p", "--out", out, "--home", h.root,
            "--openlineage-file", events)
    assert_one_line_error(r, world, code=2, needle="--openlineage-file would")
    assert (Path(events).read_bytes() if Path(events).exists() else None) == before
    assert_nothing_recorded(world, out)


def test_the_openlineage_file_is_never_a_delivered_copy_or_a_source(world, tmp_path):
    """It was appended to any file: another export's delivered copy ended in a
    JSON line, and an earlier source of record no longer parsed. Only a new
    file or one of JSON lines is appended to, and never one the store records
    as an export's copy or a source (a JSON-lines list of customers)."""
    import json

    home = Home.at(tmp_path / "home")
    init(home)
    first = run("export", world["good"], "--recipient", "A", "--purpose", "p", "--out", tmp_path / "a.csv",
                "--home", home.root, "-q")
    assert first.exit_code == 0, first.output
    jsonl = tmp_path / "customers.jsonl"
    jsonl.write_text("".join(json.dumps(dict(zip(world["header"], r)), ensure_ascii=False) + "\n"
                             for r in world["rows"]), encoding="utf-8")
    second = run("export", jsonl, "--recipient", "B", "--purpose", "p", "--out", tmp_path / "b.csv",
                 "--home", home.root, "-q")
    assert second.exit_code == 0, second.output
    events, source = tmp_path / "events.jsonl", tmp_path / "copy.csv"
    shutil.copy(world["good"], source)
    for target, needle in ((tmp_path / "a.csv", "is not a JSON-lines file"), (world["good"], "is not a JSON-lines"),
                           (jsonl, "the source of earlier exports")):
        before = Path(target).read_bytes()
        r = run("export", source, "--recipient", "C", "--purpose", "p", "--out", tmp_path / "c.csv",
                "--home", home.root, "--openlineage-file", target)
        assert_one_line_error(r, world, code=2, needle=needle)
        assert Path(target).read_bytes() == before and not (tmp_path / "c.csv").exists()
    for _ in range(2):  # a new file, then the same file again: one event a line
        (tmp_path / "c.csv").unlink(missing_ok=True)
        r = run("export", source, "--recipient", "C", "--purpose", "p", "--out", tmp_path / "c.csv",
                "--home", home.root, "--openlineage-file", events, "-q")
        assert r.exit_code == 0, r.output
    assert [json.loads(line)["eventType"] for line in events.read_text().splitlines()] == ["COMPLETE", "COMPLETE"]


def test_an_export_id_names_one_copy(world, tmp_path):
    home = Home.at(tmp_path / "home")  # its own: the world's home must stay empty of exports
    init(home)
    first = run("export", world["good"], "--recipient", "R", "--purpose", "p", "--out", tmp_path / "a.csv",
                "--home", home.root, "--export-id", "ex-fixed", "-q")
    assert first.exit_code == 0, first.output
    r = run("export", world["good"], "--recipient", "R", "--purpose", "p", "--out", tmp_path / "b.csv",
            "--home", home.root, "--export-id", "ex-fixed")
    assert_one_line_error(r, world, code=2, needle="export id ex-fixed is already in the lineage store")
    assert not (tmp_path / "b.csv").exists() and len(list_exports(home=home)) == 1


@pytest.mark.parametrize("content", ["header only", "[]"])
def test_a_leak_without_rows_is_an_error_not_a_verdict(world, tmp_path, content):
    leak = tmp_path / ("empty.json" if content == "[]" else "empty.csv")
    leak.write_text(",".join(world["header"]) + "\n" if content == "header only" else content, encoding="utf-8")
    r = run("attribute", leak, "--home", world["home"].root)
    assert_one_line_error(r, world, code=1, needle=f"{leak.name}: the leak has no rows")


def test_a_column_named_rowid_is_renamed_and_said(world, tmp_path):
    """An Oracle dump's ROWID column used to hide DuckDB's row number (an
    internal error); it is exported as ROWID_1, the receipt says so, and a
    leak of the copy, ROWID_1 or ROWID, is attributed."""
    src = tmp_path / "oracle.csv"
    lines = text_of(world).splitlines(True)
    src.write_text("ROWID," + lines[0] + "".join(f"AAAR{i:06d},{ln}" for i, ln in enumerate(lines[1:])),
                   encoding="utf-8")
    home = Home.at(tmp_path / "home")
    init(home)
    out = tmp_path / "x.csv"
    r = export(ExportRequest(str(src), "Oracle", "p", str(out)), home=home)
    assert any("'ROWID' is written as 'ROWID_1'" in n for n in r.notes)
    header, rows = leaks.read(out)
    assert header == ["ROWID_1"] + world["header"] and len(rows) == len(world["rows"]) + r.canaries
    leak = tmp_path / "leak.csv"
    leak.write_text("ROWID" + out.read_text(encoding="utf-8-sig")[len("ROWID_1"):], encoding="utf-8")
    v = attribute(leak, home=home)
    assert [c.recipient for c in v.accused] == ["Oracle"]
    assert any("'ROWID' is read as 'ROWID_1'" in n for n in v.leak["parsed"]["notes"])


@pytest.mark.parametrize("damage", [b"\xff", b"\x00", b"\xed\xa0\x80"], ids=["bad byte", "NUL", "surrogate"])
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_a_leak_with_a_few_bad_bytes_is_read_leniently(world, tmp_path, damage, encoding):
    """A leak cut or mangled in transit is still evidence: the bad bytes are
    read as U+FFFD and noted; the same file as an export source is refused
    with its row; binary junk is refused either way."""
    home = Home.at(tmp_path / "home")
    init(home)
    out = tmp_path / "x.csv"
    export(ExportRequest(str(world["good"]), "Mangled", "p", str(out)), home=home)
    data = out.read_text(encoding="utf-8-sig").encode(encoding)
    cut = data.index(b"\n", len(data) // 2)
    leak = tmp_path / "leak.csv"
    leak.write_bytes(data[:cut] + damage + data[cut:])
    v = attribute(leak, home=home)
    assert [c.recipient for c in v.accused] == ["Mangled"]
    assert any("read as U+FFFD" in n for n in v.leak["parsed"]["notes"])
    r = run("export", leak, "--recipient", "R", "--purpose", "p", "--out", tmp_path / "y.csv", "--home", home.root)
    assert r.exit_code == 1 and ", row " in r.stderr and not (tmp_path / "y.csv").exists()
    junk = tmp_path / "junk.csv"
    rng = random.Random(1)
    junk.write_bytes(bytes(rng.randrange(256) for _ in range(20_000)))
    with pytest.raises(UnreadableFile):
        read_table(duckdb.connect(), junk, "t", tmpdir=str(tmp_path))


def test_a_header_of_megabytes_is_not_echoed_whole(world, tmp_path):
    """A file without line breaks is one header; the error names its column
    by the first 60 characters, so one line stays one line."""
    src = tmp_path / "oneline.csv"
    src.write_text("a,b," + "x" * 3_000_000, encoding="utf-8")
    r = run("export", src, "--recipient", "R", "--purpose", "p", "--out", tmp_path / "o.csv",
            "--home", world["home"].root)
    line = assert_one_line_error(r, world, code=1, needle="oneline.csv")
    assert len(line) < 400 and "…" in line


def test_an_evidence_report_never_overwrites_the_leak(world, tmp_path):
    leak = tmp_path / "leak.json"
    leak.write_bytes(Path(world["good"]).read_bytes())
    before = leak.read_bytes()
    r = run("attribute", leak, "--report", leak, "--home", world["home"].root)
    assert_one_line_error(r, world, code=2, needle="--report would overwrite the leak")
    assert leak.read_bytes() == before
    r = run("attribute", leak, "--report", tmp_path / "missing" / "r.html", "--home", world["home"].root)
    assert_one_line_error(r, world, code=1, needle="output folder does not exist")


def test_debug_shows_the_traceback(world, tmp_path, monkeypatch):
    from tracer.cli.common import DEBUG

    monkeypatch.setitem(DEBUG, "on", False)  # --debug sets it for the process; put it back afterwards
    src = tmp_path / "ragged.csv"
    src.write_bytes(bad_files(world)["ragged"])
    r = runner.invoke(app, ["--debug", "export", str(src), "--recipient", "R", "--out", str(tmp_path / "x.csv"),
                            "--home", str(world["home"].root)])
    assert r.exit_code != 0 and isinstance(r.exception, UnreadableFile)


@pytest.fixture(scope="module")
def exported(new_world):
    root, h, src = new_world("junk", 400, 62)
    for name in ("A", "B"):
        export(ExportRequest(str(src), name, "p", str(root / f"{name}.csv")), home=h)
    return {"home": h, "root": root}


JUNK = {
    "random-bytes": random.Random(7).randbytes(3000),
    "words": "\n".join(" ".join(random.Random(i).choice(["alpha", "beta", "gamma", "12", "x"]) for _ in range(5))
                       for i in range(50)).encode(),
    "numbers": "\n".join(",".join(str(random.Random(i * 7 + j).randrange(10 ** 11)) for j in range(4))
                         for i in range(80)).encode(),
    "json-nonsense": b'[{"k": [1, 2, {"x": null}]}, {"k": "v"}]',
    "one-cell": b"hello",
    "ragged-leak": b"a,b,c\n1,2\n3,4,5,6\n",
}


@pytest.mark.parametrize("name", list(JUNK))
def test_junk_given_to_attribute_accuses_nobody(exported, tmp_path, name):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(JUNK[name])
    r = run("attribute", path, "--json", "--home", exported["home"].root)
    if r.exit_code == 0:
        import json

        v = json.loads(r.stdout)
        assert v["verdict"] in ("unrelated", "source", "unlinkable") and not any(c["accused"] for c in v["candidates"])
    else:
        assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1 and path.name in r.stderr
        assert "Traceback" not in r.output


def test_giant_amounts_are_marked_and_read_not_a_crash(exported, tmp_path):
    """Ten billion yuan in cents overflowed the parse's DECIMAL(18, 6) when
    scaled: the export failed, and so did attributing a leak holding such an
    amount (or "5000000000万"). Such amounts now parse like any other."""
    h = exported["home"]
    header, rows = leaks.read(exported["root"] / "A.csv")
    col = header.index("月日均存款")
    source = [list(r) for r in rows[:120]]
    for i, v in enumerate(("10000000000.00", "999999999999.99", "-12345678901.50")):
        source[i][col] = v
    src = tmp_path / "giants.csv"
    leaks.write(src, (header, source))
    out = tmp_path / "giants_out.csv"
    receipt = export(ExportRequest(str(src), "C", "p", str(out)), home=h)
    assert receipt.rows == 120
    leak = [list(r) for r in rows[:200]]
    leak[0][col], leak[1][col] = "5000000000万", "99999999999.99"
    path = tmp_path / "giant_leak.csv"
    leaks.write(path, (header, leak))
    v = attribute(path, home=h)
    assert [c.recipient for c in v.accused] == ["A"]


# --- every reader survives random input ---------------------------------------------------------

PREFIXES = [b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"PK\x03\x04", b"PAR1", b"\xd0\xcf\x11\xe0", b"[", b"{",
            b"a,b,c\n"]


def read_or_refuse(tmp_path: Path, data: bytes, suffix: str = ".csv"):
    path = tmp_path / f"in{suffix}"
    path.write_bytes(data)
    con = duckdb.connect(":memory:")
    try:
        return read_table(con, path, "t", tmpdir=str(tmp_path))
    except UnreadableFile as e:
        assert str(path) in str(e)
        return None
    finally:
        con.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=2000),
       suffix=st.sampled_from([".csv", ".xlsx", ".json", ".parquet", ".txt"]))
def test_random_bytes_are_read_or_refused_cleanly(tmp_path, prefix, body, suffix):
    read_or_refuse(tmp_path, prefix + body, suffix)


CELL = st.text(alphabet=st.sampled_from(list('ab张三李 ,;|\t"\'\n\r=+-@0123456789.\\')), max_size=12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=6), min_size=1, max_size=25),
       delimiter=st.sampled_from([",", "\t", ";", "|"]), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_random_csv_shapes_are_read_or_refused_cleanly(tmp_path, rows, delimiter, encoding):
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    read_or_refuse(tmp_path, buf.getvalue().encode(encoding))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(width=st.integers(2, 6), data=st.data())
def test_a_well_formed_table_reads_whole_and_strict(tmp_path, width, data):
    names = [f"field{chr(97 + i)}" for i in range(width)]
    body = data.draw(st.lists(st.lists(CELL, min_size=width, max_size=width).filter(
        lambda r: any(c.strip() for c in r)), min_size=1, max_size=20))
    buf = io.StringIO()
    w = csv.writer(buf)  # "\r\n" rows: a lone \r or \n in a cell gets quoted
    w.writerow(names)
    w.writerows(body)
    info = read_or_refuse(tmp_path, buf.getvalue().encode())
    assert info is not None and info.malformed is None
    assert info.columns == names and info.rows == len(body)


# --- formula injection -------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1:A9)", "=cmd|' /C calc'!A0",
            "\t=1+1"]
HARMLESS = ["-", "-12.50", "+86 138 0013 8000", "plain note", "", "3e5"]


@pytest.fixture(scope="module")
def formula_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("formula")
    plain = root / "plain.csv"
    write_csv(make_customers(300, seed=63), plain)
    header, rows = leaks.read(plain)
    notes = FORMULAS + HARMLESS
    rows = [r + [notes[i % len(notes)]] for i, r in enumerate(rows)]
    src = root / "customers.csv"
    with open(src, "w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows([header + ["备注"], *rows])
    return {"root": root, "src": src}


def test_formula_cells_are_neutralised_and_marks_and_identities_unaffected(formula_source, tmp_path):
    h1 = Home.at(tmp_path / "h1")
    init(h1)
    shutil.copytree(h1.root, tmp_path / "h2")  # the same key: the same export id reproduces the same marks
    h2 = Home.at(tmp_path / "h2")
    src = str(formula_source["src"])
    safe = export(ExportRequest(src, "R", "p", str(tmp_path / "safe.csv"), export_id="ex-formula01"), home=h1)
    raw = export(ExportRequest(src, "R", "p", str(tmp_path / "raw.csv"), export_id="ex-formula01",
                               neutralise_formulas=False), home=h2)
    assert any("formula injection" in n for n in safe.notes) and not any("formula" in n for n in raw.notes)
    hs, safe_rows = leaks.read(tmp_path / "safe.csv")
    hr, raw_rows = leaks.read(tmp_path / "raw.csv")
    assert hs == hr and len(safe_rows) == len(raw_rows)
    col = hs.index("备注")
    seen = set()
    for s, r in zip(safe_rows, raw_rows):
        if r[col] in FORMULAS:
            assert s[col] == "'" + r[col]
            seen.add(r[col])
        else:
            assert s[col] == r[col]
        assert s[:col] + s[col + 1:] == r[:col] + r[col + 1:]  # every other cell, marks included, is identical
    assert seen == set(FORMULAS)
    # Identities and canaries recorded exactly alike.
    def recorded(h):
        con = duckdb.connect(str(h.store_path), read_only=True)
        try:
            rows = sorted(con.execute("SELECT row_key FROM export_rows").fetchall())
            canaries = sorted(con.execute("SELECT idno_digest, phone_digest FROM canaries").fetchall())
        finally:
            con.close()
        return rows, canaries
    assert recorded(h1) == recorded(h2)
    # A leak of the neutralised copy is still attributed.
    leak = tmp_path / "leak.csv"
    leaks.write(leak, leaks.sample((hs, safe_rows), 80, seed=2))
    v = attribute(leak, home=h1)
    assert v.verdict == "accused" and [c.recipient for c in v.accused] == ["R"]


def test_the_cli_option_turns_neutralising_off(formula_source, tmp_path):
    home = tmp_path / "h"
    assert run("init", "--home", home).exit_code == 0
    for flag, name in (("--neutralise-formulas", "on.csv"), ("--no-neutralise-formulas", "off.csv")):
        r = run("export", formula_source["src"], "--recipient", "R", "--out", tmp_path / name, flag, "--home", home)
        assert r.exit_code == 0, r.output
    on = leaks.read(tmp_path / "on.csv")
    off = leaks.read(tmp_path / "off.csv")
    col = on[0].index("备注")
    assert {r[col] for r in on[1]} >= {"'" + f for f in FORMULAS}
    assert {r[col] for r in off[1]} >= set(FORMULAS)


def test_xlsx_cells_are_text_so_formulas_need_no_visible_prefix(formula_source, tmp_path):
    """In a workbook every cell is written as text, so a formula cannot run and
    a quote prefix would only show: the value is kept as it was."""
    from python_calamine import CalamineWorkbook

    h = Home.at(tmp_path / "h")
    init(h)
    out = tmp_path / "vendor.xlsx"
    r = export(ExportRequest(str(formula_source["src"]), "R", "p", str(out)), home=h)
    assert not any("formula injection" in n for n in r.notes)
    rows = CalamineWorkbook.from_path(str(out)).get_sheet_by_index(0).to_python()
    col = rows[0].index("备注")
    values = {row[col] for row in rows[1:]}
    assert set(FORMULAS) <= values and all(isinstance(v, str) for v in values)
    from openpyxl import load_workbook

    ws = load_workbook(out).active
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)  # nothing is a formula


def test_an_unsent_copy_is_not_overwritten_by_the_next_export(world, tmp_path):
    """Two exports to one outbox file: the second used to replace the first
    recipient's copy silently, so the file later sent to A carried B's
    fingerprints and its leak accused B."""
    h, out = world["home"], tmp_path / "outbox.csv"
    a = export(ExportRequest(str(world["good"]), "Vendor A", "p", str(out)), home=h)
    written = out.read_bytes()
    r = run("export", world["good"], "--recipient", "Vendor B", "--purpose", "p", "--out", out, "--home", h.root)
    line = assert_one_line_error(r, world, code=2, needle=f"--out is export {a.export_id}'s copy for Vendor A")
    assert "outbox.csv" in line and out.read_bytes() == written
    out.write_bytes(written + b"\n")  # no longer the recorded copy (edited, or another file now)
    assert export(ExportRequest(str(world["good"]), "Vendor B", "p", str(out)), home=h).rows == a.rows


def test_a_damaged_store_is_named_not_an_internal_error(world, tmp_path):
    """A truncated lineage store (a full disk, a bad copy) used to read as
    'internal error (IOException)'."""
    home = Home.at(tmp_path / "home")
    shutil.copytree(world["home"].root, home.root)
    export(ExportRequest(str(world["good"]), "R", "p", str(tmp_path / "o.csv")), home=home)
    os.truncate(home.store_path, home.store_path.stat().st_size // 2)
    r = run("verify", "--home", home.root)
    line = assert_one_line_error(r, world, code=1, needle="the lineage store cannot be read")
    assert str(home.store_path) in line and "internal error" not in line


def test_a_corrupt_store_is_named_damaged_not_busy(world, tmp_path, monkeypatch):
    """Bytes overwritten inside the store: DuckDB's "checksum ... in block at
    location ..." was read as a lock ("block"), waited out the lock timeout on
    every command and then called the store busy."""
    home = Home.at(tmp_path / "home")
    shutil.copytree(world["home"].root, home.root)
    export(ExportRequest(str(world["good"]), "R", "p", str(tmp_path / "o.csv")), home=home)
    with open(home.store_path, "r+b") as f:
        f.seek(10 * 4096)
        f.write(random.Random(1).randbytes(20 * 4096))
    monkeypatch.setenv("TRACER_LOCK_WAIT", "3")
    r = run("lineage", "exports", "--home", home.root)
    line = assert_one_line_error(r, world, code=1, needle="the lineage store cannot be read: it is damaged")
    assert "busy" not in line and str(home.store_path) in line


@pytest.mark.parametrize("args, needle", [
    (["--columns", ","], "--columns names no column"),  # was internal error (IndexError)
    (["--canaries", "-1"], "--canaries must be 0 or more"),  # was accepted as none
    # An unset shell variable sent every column, or every row.
    (["--columns", ""], "--columns names no column"),
    (["--where", " "], "--where is empty"),
    (["--canaries", "99999999999999999999"], "is more than the 300 rows exported"),  # ran for minutes, 4 GB
])
def test_flags_that_cannot_mean_anything_are_usage_errors(world, tmp_path, args, needle):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = [] if "--out" in args else ["--out", tmp_path / "o.csv"]
    r = run("export", world["good"], "--recipient", "R", "--purpose", "p", *out, *args, "--home", world["home"].root)
    assert_one_line_error(r, world, code=2, needle=needle)
    assert list(tmp_path.iterdir()) == []


def test_a_home_that_is_a_file_is_named(world, tmp_path):
    (tmp_path / "home").write_text("not a folder")
    r = run("init", "--home", tmp_path / "home")
    assert_one_line_error(r, world, code=2, needle="the tracer home is a file, not a folder")


def test_a_leak_with_a_row_too_wide_is_attributed_without_it(world, tmp_path):
    """A leaker's stray comma gives one row an extra field: that used to stop
    attribution with the row's error; the row is now left out, and said.
    As an export source the same file is still refused, with its row."""
    home = Home.at(tmp_path / "home")
    init(home)
    out = tmp_path / "x.csv"
    export(ExportRequest(str(world["good"]), "Wide", "p", str(out)), home=home)
    lines = out.read_text(encoding="utf-8-sig").splitlines(True)
    leak = tmp_path / "leak.csv"
    leak.write_text("".join(lines[:41] + [lines[41].rstrip("\n") + ",extra\n"] + lines[42:]), encoding="utf-8")
    v = attribute(leak, home=home)
    assert [c.recipient for c in v.accused] == ["Wide"] and v.rows == len(lines) - 2
    assert any("row 42" in n and "left out" in n for n in v.leak["parsed"]["notes"]), v.leak["parsed"]["notes"]
    r = run("export", leak, "--recipient", "R", "--purpose", "p", "--out", tmp_path / "y.csv", "--home", home.root)
    assert r.exit_code == 1 and "row 42" in r.stderr and not (tmp_path / "y.csv").exists()


def test_renamed_headers_are_said_on_the_receipt(world, tmp_path):
    """A repeated or blank header gets a name the recipient's file shows
    (姓名_1, column3): the steward is told, as for a renamed ROWID."""
    header, rows = world["header"], world["rows"]
    i = header.index("性别")
    src = tmp_path / "dup.csv"
    named = [*header[:i], "", *header[i + 1:]] + ["姓名"]
    src.write_text(",".join(named) + "\n" + "".join(",".join(r + [r[header.index("姓名")]]) + "\n"
                                                    for r in rows), encoding="utf-8")
    receipt = export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv")), home=world["home"])
    notes = " | ".join(receipt.notes)
    assert f"column {i + 1}, '(blank)' in the file, is named 'column" in notes, notes  # DuckDB's name for it
    assert f"column {len(named)}, '姓名' in the file, is named '姓名_1'" in notes, notes


def test_a_value_typed_without_quotes_is_not_echoed(world, tmp_path):
    """姓名 = 贺思璇 (the name unquoted) reads to the database as a column
    named after the customer: the error said so, name and all."""
    name = world["rows"][0][world["header"].index("姓名")]
    r = run("export", world["good"], "--recipient", "R", "--purpose", "p", "--out", tmp_path / "o.csv",
            "--where", f"姓名 = {name}", "--home", world["home"].root)
    line = assert_one_line_error(r, world, code=1, needle="--where does not apply")
    assert name not in line and '"…"' in line
    r = run("export", world["good"], "--recipient", "R", "--purpose", "p", "--out", tmp_path / "o.csv",
            "--where", '"余额" > 5', "--home", world["home"].root)
    assert '"余额"' not in r.stderr and "--where does not apply" in r.stderr  # unknown names go too


def test_a_gbk_file_with_one_bad_byte_names_its_row(world, tmp_path):
    """The error named row 1 (where the file stops being UTF-8), not the
    row where the GBK text is broken."""
    lines = Path(world["good"]).read_text(encoding="utf-8-sig").splitlines(True)
    data = [ln.encode("gbk") for ln in lines]
    data[157] = data[157][:10] + b"\x80" + data[157][10:]  # 0x80 is no GBK character
    src = tmp_path / "gbk_bad.csv"
    src.write_bytes(b"".join(data))
    r = run("export", src, "--recipient", "R", "--purpose", "p", "--out", tmp_path / "o.csv",
            "--home", world["home"].root)
    assert_one_line_error(r, world, code=1, needle="gbk_bad.csv, row 158: not text in UTF-8, UTF-16 or GB18030")
