"""No plaintext customer identifier in the lineage store (or anywhere in the home)."""

from __future__ import annotations

import json
import re

from tracer import leaks


def test_store_holds_no_real_id_or_phone(bank):
    header, rows = leaks.read(bank["source"])
    ids = {r[header.index("身份证号")] for r in rows}
    phones = {r[header.index("手机号")] for r in rows}
    names = {r[header.index("姓名")] for r in rows}
    assert len(ids) == len(rows) and len(phones) == len(rows)
    home = bank["home"].root
    files = [p for p in home.rglob("*") if p.is_file() and "keys" not in p.parts]
    assert files, "the home should contain the store"
    # Every window of 11, 15 and 18 characters of every digit run in the files.
    secrets = phones | ids | {i[:15] for i in ids}  # not even a spreadsheet-mangled prefix
    for path in files:
        data = path.read_bytes()
        for run in re.finditer(rb"[0-9X]{11,}", data):
            text = run.group().decode()
            found = {text[i:i + w] for w in (11, 15, 18) for i in range(len(text) - w + 1)} & secrets
            # (the context says what holds it, should this ever fail)
            assert not found, (path.relative_to(home), data[max(0, run.start() - 60):run.end() + 60])
    # Canaries are synthetic and stored whole; none of them is a real customer.
    import duckdb

    con = duckdb.connect(str(bank["home"].store_path), read_only=True)
    canaries = [json.loads(r[0]) for r in con.execute("SELECT row_json FROM canaries").fetchall()]
    con.close()
    assert canaries
    for c in canaries:
        if "身份证号" in c:
            assert c["身份证号"] not in ids
        if "手机号" in c:
            assert c["手机号"] not in phones
    # Real names may coincide by chance, but canary names are not copied wholesale.
    overlap = sum(1 for c in canaries if c.get("姓名") in names)
    assert overlap <= len(canaries) // 2


def test_a_where_naming_customers_is_kept_without_them(tmp_path):
    """A --where may name a customer ('张伟', '177 6234 5437'): the lineage keeps
    the filter's shape, never the person; a tier or branch stays readable."""
    import duckdb

    from tracer import ExportRequest, Home, export, init
    from tracer.store import redact_where
    from tracer.synthdata import make_customers, write_csv

    table = make_customers(400, seed=12)
    name, phone, ident = (table.column(c)[5].as_py() for c in ("姓名", "手机号", "身份证号"))
    spaced = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    where = (f"\"姓名\" <> '{name}' AND \"手机号\" <> '{spaced}' AND \"身份证号\" <> '{ident}' "
             f"AND \"客户等级\" <> '钻石'")
    assert redact_where(where) == ("\"姓名\" <> '<name>' AND \"手机号\" <> '<phone>' AND \"身份证号\" <> '<idno>' "
                                   "AND \"客户等级\" <> '钻石'")
    src = tmp_path / "c.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv"), where=where), home=home)
    con = duckdb.connect(str(home.store_path), read_only=True)
    kept = con.execute("SELECT where_sql FROM exports").fetchone()[0]
    con.close()
    assert kept == redact_where(where)
    data = home.store_path.read_bytes()
    for secret in (name, phone, ident, spaced):
        assert secret.encode() not in data


def test_no_canary_keeps_most_of_a_real_id_number(tmp_path):
    """A canary's ID number takes its donor's region and station block and a
    birthdate near the donor's: in a list where those are crowded (one
    district, one block, three years of birthdates) most such draws start
    with a real customer's first 15 characters. The store keeps canaries
    whole, so none may: they differ from every real ID in its first 15."""
    from datetime import date, timedelta

    import duckdb
    import pyarrow as pa

    from canary.idcard import build_id
    from tracer import ExportRequest, Home, export, init
    from tracer.synthdata import make_customers, write_csv

    table = make_customers(3000, seed=14)
    sexes = table.column("性别").to_pylist()
    ids = [build_id("310105", date(1980, 1, 1) + timedelta(days=i % 1096), 990 + (i // 1096) * 2 + (sex == "男"))
           for i, sex in enumerate(sexes)]
    table = table.set_column(table.column_names.index("身份证号"), "身份证号", pa.array(ids))
    homes = [f"上海市长宁区延安西路{i % 900 + 1}号{i % 20 + 1}栋{i % 15 + 1}0{i % 4 + 1}室" for i in range(len(ids))]
    table = table.set_column(table.column_names.index("地址"), "地址", pa.array(homes))  # where the IDs say
    src = tmp_path / "c.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    receipt = export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv")), home=home)
    assert receipt.canaries > 0
    con = duckdb.connect(str(home.store_path), read_only=True)
    planted = [json.loads(r[0])["身份证号"] for r in con.execute("SELECT row_json FROM canaries").fetchall()]
    con.close()
    assert len(planted) == receipt.canaries
    assert not {p[:15] for p in planted} & {i[:15] for i in ids}


def test_canaries_take_the_police_blocks_their_region_holds(tmp_path):
    """Digits 15-16 of an ID number (the police station's block) come from
    the donor's region's other customers, as often as they hold each: a
    canary whose block no real customer of its region has would stand out
    to a leaker who tallies blocks by region."""
    import duckdb
    import pyarrow as pa

    from canary.idcard import build_id, parse_id
    from tracer import ExportRequest, Home, export, init
    from tracer.synthdata import make_customers, write_csv

    table = make_customers(3000, seed=15)
    regions = ["310105", "110108", "440305"]
    blocks = {"310105": (37, 52), "110108": (4, 81, 90), "440305": (66,)}  # sequence = block * 10 + a digit
    ids = []
    for i, (old, sex) in enumerate(zip(table.column("身份证号").to_pylist(), table.column("性别").to_pylist())):
        region = regions[i % 3]
        block = blocks[region][(i // 3) % len(blocks[region])]
        seq = block * 10 + 2 * ((i // 9) % 5) + (sex == "男")
        ids.append(build_id(region, parse_id(old).birthdate, seq))
    table = table.set_column(table.column_names.index("身份证号"), "身份证号", pa.array(ids))
    src = tmp_path / "c.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    receipt = export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv"), canaries=60), home=home)
    assert receipt.canaries >= 20  # (some are dropped: a canary may not start with a real ID's first 15)
    con = duckdb.connect(str(home.store_path), read_only=True)
    planted = [json.loads(r[0])["身份证号"] for r in con.execute("SELECT row_json FROM canaries").fetchall()]
    con.close()
    real = {(i[:6], i[14:16]) for i in ids}
    assert all(p[:6] in blocks for p in planted)  # each keeps its donor's region
    assert all((p[:6], p[14:16]) in real for p in planted), sorted({(p[:6], p[14:16]) for p in planted} - real)
    assert len({p[14:16] for p in planted}) > 3  # drawn from the regions' blocks, not one kept
