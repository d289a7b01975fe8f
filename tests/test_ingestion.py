"""Leaks in the shapes they surface in (issue 4): formats, encodings, renamed
columns, spreadsheet damage, normalisation, padding."""

from __future__ import annotations

import zipfile

import pytest
from typer.testing import CliRunner

from tracer import attribute, leaks
from tracer.cli import app
from tracer.export import COARSE_MIN_WHOLE
from tracer.synthdata import make_customers

PINYIN = {"客户号": "khh", "姓名": "xm", "性别": "xb", "身份证号": "sfzh", "手机号": "sjh", "地址": "dz",
          "开户网点": "khwd", "客户等级": "khdj", "月日均存款": "yrjck", "开户日期": "khrq"}


def accused(v):
    return sorted({c.recipient for c in v.accused})


def test_gbk_with_pinyin_headers_and_shuffled_columns(bank, verdict_for):
    copy = leaks.read(bank["outs"]["A"])
    t = leaks.sample(copy, 3000, seed=1)
    cols = list(t[0])
    cols = cols[5:] + cols[:5]
    t = leaks.rename(leaks.keep(t, cols), PINYIN)
    v = verdict_for(bank, t, "gbk_pinyin.csv", encoding="gbk")
    assert v.leak["parsed"]["encoding"] == "gb18030"
    assert accused(v) == ["A"]
    kinds = {c["column"]: c["kind"] for c in v.columns}
    assert kinds["sfzh"] == "idno" and kinds["sjh"] == "phone" and kinds["yrjck"] == "amount"


@pytest.mark.parametrize("route", ["xlsx", "csv"])
def test_spreadsheet_round_trip_with_mangled_ids(bank, route):
    copy = leaks.sample(leaks.read(bank["outs"]["B"]), 2000, seed=2)
    if route == "xlsx":
        path = leaks.write_xlsx(bank["root"] / "roundtrip.xlsx", copy)  # IDs keep 15 digits
    else:
        path = leaks.write(bank["root"] / "roundtrip.csv", leaks.spreadsheet_csv(copy))  # 1.10105E+17
    v = attribute(path, home=bank["home"])
    assert accused(v) == ["B"]
    assert v.linked_rows >= 1900


def test_ids_linked_by_first_15_digits_and_name_when_nothing_else_survives(bank, verdict_for):
    copy = leaks.keep(leaks.sample(leaks.read(bank["outs"]["B"]), 300, seed=3), ["姓名", "身份证号", "月日均存款"])
    mangled = leaks.map_column(copy, "身份证号", lambda v: v[:15] + "000")
    v = verdict_for(bank, mangled, "id15.csv")
    assert v.linked_rows >= 290  # through first 15 digits + name only
    assert accused(v) == ["B"]


def test_plus86_phones_and_amounts_rounded_to_whole_yuan(bank, verdict_for):
    copy = leaks.read(bank["outs"]["A"])
    t = leaks.sample(copy, len(copy[1]) // 10, seed=4)
    t = leaks.map_column(leaks.map_column(t, "手机号", leaks.phone_plus86), "月日均存款", leaks.whole_yuan)
    v = verdict_for(bank, t, "plus86_rounded.csv")
    assert accused(v) == ["A"]
    best = v.accused[0]
    assert any("fine" in c for c in best.erased_columns)  # the cents channel is gone...
    coarse = [m for m in best.marks if m.channel == "coarse"]
    # ...the whole-yuan channel carries on. The reader counts every amount of at
    # least 1,000 yuan (a key-free rule) but the export marks only those a step
    # (q yuan) above it, so a leaked amount in that band was read unmarked: only
    # such cells may fail to agree.
    c = coarse[0]
    band = sum(COARSE_MIN_WHOLE <= abs(int(r[t[0].index("月日均存款")])) < COARSE_MIN_WHOLE + c.q for r in t[1])
    assert c.readable > 20 and c.agree >= c.readable - band


def test_rounded_amounts_alone_still_attribute_through_the_coarse_channel(bank, verdict_for):
    call = leaks.read(bank["outs"]["call"])  # name, phone, balance, tier: no dates
    t = leaks.map_column(leaks.sample(call, 60, seed=5), "月日均存款", leaks.whole_yuan)
    v = verdict_for(bank, t, "call_rounded.csv")
    assert accused(v) == ["call centre"]


def test_padding_with_another_banks_rows_accuses_nobody_else(bank, verdict_for):
    mine = leaks.sample(leaks.read(bank["outs"]["B"]), 300, seed=6)
    other = make_customers(3000, seed=77, bank="east")
    header = mine[0]
    other_rows = [[str(other.column(h)[i]) for h in header] for i in range(other.num_rows)]
    v = verdict_for(bank, leaks.shuffle(leaks.concat(mine, (header, other_rows)), seed=1), "padded.csv")
    assert accused(v) == ["B"]
    assert v.linked_rows <= 300 + 5


def test_whole_copy_as_jsonl(bank):
    path = leaks.write_jsonl(bank["root"] / "copy.jsonl", leaks.read(bank["outs"]["A"]))
    v = attribute(path, home=bank["home"])
    assert accused(v) == ["A"]


def test_twenty_rows_of_name_and_phone_from_identical_copies(bank, verdict_for):
    """Attributed if a canary is among the rows; otherwise ambiguous naming both
    (or A alone where a pooled canary only A received is among them), never
    the wrong one alone."""
    for seed in range(12):
        t = leaks.keep(leaks.sample(leaks.read(bank["outs"]["A"]), 20, seed=seed), ["姓名", "手机号"])
        v = verdict_for(bank, t, f"namephone_{seed}.csv")
        if v.accused:
            assert accused(v) == ["A"]
            assert v.accused[0].hits  # only a canary can carry it
        else:
            assert v.verdict == "ambiguous"
            plausible = {c.recipient for c in v.candidates if c.excluded is None}
            assert "A" in plausible
            # B too, unless a pooled canary among the rows is one only A received
            b = next(c for c in v.candidates if c.recipient == "B")
            assert b.excluded is None or "pooled canaries in the leak" in b.excluded


@pytest.mark.parametrize("fmt", ["tsv", "semicolon", "pipe", "spaces", "noheader", "utf16", "utf16le-nobom",
                                 "utf16be-nobom", "json", "json-wrapped", "json-nested", "parquet"])
def test_formats_and_encodings(bank, fmt):
    t = leaks.sample(leaks.read(bank["outs"]["A"]), 200, seed=8)
    path = bank["root"] / f"fmt_{fmt}.txt"
    if fmt in ("tsv", "semicolon", "pipe"):
        leaks.write(path, t, delimiter={"tsv": "\t", "semicolon": ";", "pipe": "|"}[fmt])
    elif fmt == "spaces":
        t2 = leaks.keep(t, ["姓名", "手机号", "月日均存款", "开户日期"])
        path.write_text("\n".join("   ".join(r) for r in [t2[0]] + t2[1]), encoding="utf-8")
    elif fmt == "noheader":
        leaks.write(path, t)
        path.write_text(path.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    elif fmt == "utf16":
        leaks.write(path, t, encoding="utf-16")
    elif fmt.endswith("-nobom"):  # as some export tools write it: no byte-order mark (it was unread)
        leaks.write(path, t, encoding=fmt[:-len("-nobom")].replace("utf16", "utf-16-"))
    elif fmt == "json":
        import json

        path.write_text(json.dumps([dict(zip(t[0], r)) for r in t[1]], ensure_ascii=False), encoding="utf-8")
    elif fmt.startswith("json-"):  # an API's answer: records in a wrapper, each nested by topic (was unread)
        import json

        people = ["姓名", "身份证号", "手机号"]
        records = [{"person": {h: v for h, v in zip(t[0], r) if h in people},
                    "account": {h: v for h, v in zip(t[0], r) if h not in people}} for r in t[1]]
        doc = {"code": 0, "total": len(records), "data": records} if fmt == "json-wrapped" else records
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({h: [r[i] for r in t[1]] for i, h in enumerate(t[0])}), path)
    v = attribute(path, home=bank["home"])
    assert accused(v) == ["A"], (fmt, v.summary)


@pytest.mark.parametrize("kind", ["binary", "truncated_xlsx", "empty"])
def test_unreadable_leaks_get_one_line(bank, tmp_path, kind):
    path = tmp_path / f"bad_{kind}.xlsx"
    if kind == "binary":
        path.write_bytes(bytes(range(256)) * 40)
    elif kind == "truncated_xlsx":
        good = leaks.write_xlsx(tmp_path / "good.xlsx", leaks.head(leaks.read(bank["outs"]["A"]), 50))
        path.write_bytes(good.read_bytes()[:700])
        assert zipfile.is_zipfile(good)
    else:
        path.write_bytes(b"")
    r = CliRunner().invoke(app, ["attribute", str(path), "--home", str(bank["home"].root)])
    assert r.exit_code == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and path.name in lines[0] and "Traceback" not in r.output


# --- fast strict UTF-8 check ------------------------------------------------------------------

from hypothesis import given as _given, settings as _settings  # noqa: E402
from hypothesis import strategies as _st  # noqa: E402

_utf8ish = _st.one_of(
    _st.binary(max_size=40),
    _st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
    _st.lists(_st.sampled_from([b"a", "中".encode(), "😀".encode(), b"\xe4\xb8", b"\x80", b"\xc0\xaf",
                                b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b","]), max_size=20).map(b"".join),
)


@_settings(max_examples=300, deadline=None)
@_given(data=_utf8ish, chunk=_st.integers(min_value=1, max_value=9))
def test_arrow_utf8_check_agrees_with_pythons_strict_decoder(data, chunk, tmp_path_factory):
    """Any bytes, cut into chunks at any size: Arrow's validator (with the
    carried split character) says what Python's strict decoder says."""
    import forensics.readers as readers

    p = tmp_path_factory.mktemp("utf8") / "x.bin"
    p.write_bytes(data)
    try:
        data.decode("utf-8")
        expected = b"\x00" not in data
    except UnicodeDecodeError:
        expected = False
    old = readers._BIG_CHUNK
    readers._BIG_CHUNK = chunk
    try:
        assert readers._valid_utf8(p) is expected
    finally:
        readers._BIG_CHUNK = old


def test_a_file_utf8_only_at_its_head_is_read_as_gb18030(tmp_path):
    """The whole-file UTF-8 check runs beside the load when the first
    megabyte reads as UTF-8; a file that turns to GBK further down is
    reloaded as GB18030, as if the check had come first."""
    import duckdb

    from forensics.readers import read_table

    ascii_rows = [f"{i:08d},customer-{i:08d},1{i % 9}0000.00" for i in range(45_000)]  # ~1.3 MB of ASCII
    gbk_rows = [f"{i:08d},张伟{i},5000.00" for i in range(45_000, 45_100)]
    path = tmp_path / "mixed.csv"
    path.write_bytes(("custno,name,balance\n" + "\n".join(ascii_rows + gbk_rows) + "\n").encode("gbk"))
    assert len("\n".join(ascii_rows).encode()) > 1 << 20
    from forensics import readers

    assert readers._utf8_by_its_head(path) == "utf-8"  # the guess is made, and proves wrong
    con = duckdb.connect()
    info = read_table(con, path, "t", tmpdir=str(tmp_path))
    assert info.encoding == "gb18030" and info.columns == ["custno", "name", "balance"] and info.rows == 45_100
    assert con.execute("SELECT name FROM t WHERE custno = '00045001'").fetchone()[0] == "张伟45001"



def _past_the_head(tmp_path, last: bytes):
    """A UTF-8 list whose first megabyte is clean ASCII, then ``last``."""
    from forensics import readers

    rows = [f"{i:08d},customer-{i:08d},1{i % 9}0000.00" for i in range(45_000)]
    path = tmp_path / "late.csv"
    path.write_bytes(b"custno,name,balance\n" + "\n".join(rows).encode() + b"\n" + last + b"\n")
    assert readers._utf8_by_its_head(path) == "utf-8"  # the guess is made
    return path


@pytest.mark.parametrize("where", ["value", "quoted value", "short row"])
@pytest.mark.parametrize("bad", [b"\xd5\xc5", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80", b"\xf5\x80\x80\x80"],
                         ids=["gbk", "surrogate", "overlong", "stray continuation", "beyond U+10FFFF"])
def test_a_delimited_file_is_checked_for_utf8_by_duckdbs_own_load(tmp_path, where, bad):
    """read_table trusts DuckDB's CSV load to reject invalid UTF-8 (it skips
    its own whole-file pass for delimited text): every kind of bad byte,
    past the first megabyte, fails DuckDB's strict and lenient parses alike,
    so the file is never taken for UTF-8. (DuckDB checks the values it
    materialises, as read_table's CREATE TABLE ... SELECT * does: a bare
    count(*) would not look at them.)"""
    import duckdb

    from forensics import readers

    path = _past_the_head(tmp_path, {"value": b"1," + bad + b",2", "quoted value": b'1,"' + bad + b' x",2',
                                     "short row": b"1," + bad}[where])
    for strict in (True, False):
        with pytest.raises(duckdb.Error, match="(?i)invalid unicode"):
            duckdb.connect().execute(
                f"CREATE TABLE t AS SELECT * FROM read_csv('{path}', all_varchar = true, header = true, delim = ',', "
                f"quote = '\"', escape = '\"', null_padding = {str(not strict).lower()}, "
                f"strict_mode = {str(strict).lower()})")
    info = readers.read_table(duckdb.connect(), path, "t", tmpdir=str(tmp_path))
    if info.encoding != "gb18030":  # damaged UTF-8: read leniently (a leak), refused as a source
        assert info.malformed is not None and any("read as U+FFFD" in n for n in info.notes)


def test_a_nul_byte_past_the_head_is_not_read_as_utf8(tmp_path):
    """DuckDB keeps a NUL inside a value, so read_table looks for NUL itself:
    a file with one is never loaded as clean UTF-8 (the NUL is read as U+FFFD,
    noted, and the file is malformed: an export refuses it)."""
    import duckdb

    from forensics import readers

    path = _past_the_head(tmp_path, b"1,ab\x00c,2")
    con = duckdb.connect()
    info = readers.read_table(con, path, "t", tmpdir=str(tmp_path))
    assert info.malformed is not None and "NUL" in info.malformed.message
    assert con.execute("SELECT name FROM t WHERE custno = '1'").fetchone()[0] == "ab\ufffdc"


def test_json_ids_written_as_numbers_in_some_records_keep_their_digits_and_no_quotes(tmp_path):
    """DuckDB types a key of mixed JSON types as JSON; its strings used to be
    exported with their JSON quotes ("...X" with the quotes inside the cell),
    and the customer was then never found by lineage."""
    import json

    import duckdb

    from forensics.readers import read_table

    rows = [{"身份证号": 110105194912310021, "姓名": "张三"}, {"身份证号": "11010519491231002X", "姓名": "李四"},
            {"身份证号": None, "姓名": "王五"}]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    con = duckdb.connect()
    read_table(con, path, "t")
    assert con.execute("SELECT 身份证号 FROM t").fetchall() == [("110105194912310021",), ("11010519491231002X",),
                                                                 (None,)]


@pytest.mark.parametrize("zone, shown", [("Asia/Shanghai", "2024-03-03 00:00:00"), ("+08:00", "2024-03-03 00:00:00"),
                                         ("America/New_York", "2024-03-02 11:00:00")])
def test_parquet_times_with_a_zone_are_written_in_that_zone(tmp_path, zone, shown):
    """DuckDB reads a zoned timestamp as an instant and wrote it in UTC: an
    account opened at midnight in Shanghai moved to the day before."""
    import datetime

    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from forensics.readers import read_table

    instant = datetime.datetime(2024, 3, 2, 16, 0)  # UTC
    path = tmp_path / "z.parquet"
    pq.write_table(pa.table({"opened": pa.array([instant], pa.timestamp("us", tz=zone)),
                             "naive": pa.array([instant], pa.timestamp("us"))}), path)
    con = duckdb.connect()
    info = read_table(con, path, "t")
    assert con.execute("SELECT opened, naive FROM t").fetchone() == (shown, "2024-03-02 16:00:00")
    assert info.notes == [f"column 'opened': times in {zone}, the zone the file records"]


@pytest.mark.parametrize("doc, columns, rows, note", [
    # an API's wrapper, one level deeper, and records split over two lists
    ({"code": 0, "result": {"page": 1, "data": [{"id": "C1", "phone": "13800000001"},
                                                {"id": "C2", "phone": "13800000002"}]}},
     ["id", "phone"], 2, "'result.data'"),
    ({"active": [{"id": "C1", "phone": "1"}], "closed": [{"id": "C2", "phone": "2"}],
      "codes": [{"k": "a"}, {"k": "b"}, {"k": "c"}]}, ["id", "phone"], 2, "'active', 'closed'"),
    # nested objects: fields by their own name, by path where two share one; one field nested too
    ([{"customer": {"id": "110101199001010011", "name": "王伟"}, "account": {"id": "A1"}, "contact": {"phone": "1"}}],
     ["customer.id", "name", "account.id", "phone"], 1, "nested"),
    # one customer with a list of accounts: the customer, not the accounts
    ({"id": "C1", "name": "王伟", "phone": "13800000001", "idno": "110101199001010011",
      "accounts": [{"no": "1"}, {"no": "2"}]}, ["id", "name", "phone", "idno", "accounts"], 1, None),
], ids=["wrapper-deeper", "two-lists", "nested-fields", "one-customer"])
def test_json_as_an_api_answers_is_read_as_its_records(tmp_path, doc, columns, rows, note):
    """Read as they were, a wrapper was one row and nested records columns of
    JSON text: a leak of this bank's customers came out unlinkable or
    unrelated (test_formats_and_encodings runs such leaks end to end)."""
    import json

    import duckdb

    from forensics.readers import read_table

    path = tmp_path / "answer.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    info = read_table(duckdb.connect(), path, "t")
    assert info.columns == columns and info.rows == rows
    assert (note is None and not info.notes) or any(note in n for n in info.notes), info.notes
