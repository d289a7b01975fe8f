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
    blobs = [p.read_bytes() for p in home.rglob("*") if p.is_file() and "keys" not in p.parts]
    assert blobs, "the home should contain the store"
    data = b"\n".join(blobs)
    # Every window of 11, 15 and 18 characters of every digit run in the files.
    windows = set()
    for run in re.findall(rb"[0-9X]{11,}", data):
        text = run.decode()
        for width in (11, 15, 18):
            windows.update(text[i:i + width] for i in range(len(text) - width + 1))
    assert not windows & phones
    assert not windows & ids
    assert not windows & {i[:15] for i in ids}  # not even a spreadsheet-mangled prefix
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
