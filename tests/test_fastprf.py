"""The native PRF core (canary/_prfcore.c via forensics.fastprf) is exactly
canary.prf.Key.mac: on both block functions (SHA-NI and portable C), every
message length around the SHA-256 block boundaries, nulls, slices, chunked
and large-string columns, and many keys at once."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.prf import Key
from forensics import fastprf

pytestmark = pytest.mark.skipif(fastprf._prfcore is None, reason="native PRF core not built (no C compiler)")

K1, K2, K3 = Key(b"\x01" * 32), Key(b"\x02" * 48), Key(bytes(range(64)))


@pytest.fixture(params=["best", "portable"])
def block_function(request):
    fastprf._prfcore.use_portable(request.param == "portable")
    yield fastprf._prfcore.engine()
    fastprf._prfcore.use_portable(False)


def expected_digests(key, label, values):
    return [None if v is None else key.digest64(label, v) for v in values]


def test_every_length_across_block_boundaries(block_function):
    # label "L|" is 2 bytes after a 64-byte pad: lengths 0..200 cross 1, 2 and 3 blocks.
    values = ["x" * n for n in range(201)] + ["身份证" * 20, None]
    got = fastprf.digest64(fastprf.Keys([K1]), "L", pa.array(values)).to_pylist()
    assert got == expected_digests(K1, "L", values)


def test_byte_output_is_the_whole_mac(block_function):
    values = ["13800138000", "", None, "a" * 300]
    got = fastprf.hmac_bytes(fastprf.Keys([K3]), "mark/v1", pa.array(values, pa.large_string()))
    assert got.shape == (4, 32)
    assert [bytes(r) for i, r in enumerate(got) if values[i] is not None] == \
        [K3.mac("mark/v1", v) for v in values if v is not None]


def test_many_keys_chosen_per_row(block_function):
    keys = [K1, K2, K3]
    values = [f"row{i}" for i in range(20_000)]  # large enough to run on several threads
    index = np.arange(len(values)) % 3
    got = fastprf.digest64(fastprf.Keys(keys), "k", pa.array(values), key_index=index).to_numpy()
    want = [keys[i % 3].digest64("k", v) for i, v in enumerate(values)]
    assert got.tolist() == want


def test_slices_and_chunked_columns():
    values = [str(i) for i in range(100)]
    keys = fastprf.Keys([K2])
    sliced = pa.array(values).slice(17, 40)
    assert fastprf.digest64(keys, "s", sliced).to_pylist() == expected_digests(K2, "s", values[17:57])
    chunked = pa.chunked_array([values[:30], values[30:]])
    assert fastprf.digest64(keys, "s", chunked).to_pylist() == expected_digests(K2, "s", values)


def test_empty_column_and_bad_input():
    keys = fastprf.Keys([K1])
    assert fastprf.digest64(keys, "e", pa.array([], pa.string())).to_pylist() == []
    with pytest.raises(ValueError):
        fastprf.digest64(keys, "bad|label", pa.array(["x"]))
    with pytest.raises(ValueError):  # a key index out of range is refused, not read past the end
        fastprf.digest64(keys, "e", pa.array(["x"]), key_index=np.array([1]))
    with pytest.raises(ValueError):  # offsets for 1 value, 5 claimed
        fastprf._prfcore.hmac(keys._mids, None, None, b"e|", b"\x00" * 8, False, b"", 5, 5, 0, bytearray(40), 1)
    with pytest.raises(ValueError):  # more rows than values and no value index
        fastprf._prfcore.hmac(keys._mids, None, None, b"e|", b"\x00" * 8, False, b"", 1, 5, 0, bytearray(40), 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=150)), max_size=30), st.binary(min_size=32, max_size=64))
def test_property_native_equals_reference(values, secret):
    key = Key(secret)
    got = fastprf.digest64(fastprf.Keys([key]), "identity/phone", pa.array(values, pa.string())).to_pylist()
    assert got == expected_digests(key, "identity/phone", values)


def test_export_is_identical_with_and_without_the_native_core(tmp_path, monkeypatch):
    """The native path and the SQL fallback make the same file and the same
    lineage records, identifier-less rows (keyed by their whole content)
    and a filter included, first and repeat exports of a source."""
    import shutil

    import duckdb

    from tracer import ExportRequest, Home, export, init
    from tracer.synthdata import make_customers, write_csv

    src = tmp_path / "customers.csv"
    table = make_customers(1500, seed=5)
    write_csv(table, src)
    text = src.read_text(encoding="utf-8-sig").splitlines()
    header = text[0].split(",")
    # Blank every identifier of some rows so that they fall back to the row digest.
    blank = {i for i, h in enumerate(header) if h in ("身份证号", "手机号", "客户号", "邮箱", "账号")}
    rows = [",".join("" if j in blank and i % 7 == 0 else v for j, v in enumerate(line.split(",")))
            for i, line in enumerate(text[1:])]
    src.write_text("\n".join([text[0], *rows]) + "\n", encoding="utf-8")
    h1 = Home.at(tmp_path / "h1")
    init(h1)
    shutil.copytree(h1.root, tmp_path / "h2")
    h2 = Home.at(tmp_path / "h2")
    # The second export of the source is a repeat: natively only each row's first
    # identifier is keyed (the store holds the rest); the SQL path keys them all.
    for export_id in ("ex-native01", "ex-native02"):
        outs = {}
        for native, home in (("1", h1), ("0", h2)):
            monkeypatch.setenv("TRACER_NATIVE", native)
            outs[native] = tmp_path / f"{export_id}-{native}.csv"
            export(ExportRequest(str(src), "R", "p", str(outs[native]), export_id=export_id,
                                 where='"月日均存款" >= 1000'), home=home)
        assert outs["1"].read_bytes() == outs["0"].read_bytes()

    def records(home):
        con = duckdb.connect(str(home.root / "lineage.duckdb"), read_only=True)
        try:
            return [con.execute(q).fetchall() for q in (
                "SELECT * FROM export_rows ORDER BY ALL", "SELECT * FROM source_identities ORDER BY ALL",
                "SELECT idno_digest, phone_digest, row_json FROM canaries ORDER BY ALL")]
        finally:
            con.close()

    assert records(h1) == records(h2)
    assert len(records(h1)[1]) > 1000


def test_export_keys_every_row_when_it_takes_many_batches(home, tmp_path, monkeypatch):
    """Regression: the identity stage streams in batches; every batch must
    reach the lineage and the file (a query on the reading connection once
    ended the stream after the first batch)."""
    import duckdb

    import importlib

    from tracer import ExportRequest
    from tracer import export as export_fn
    from tracer.synthdata import make_customers, write_csv

    export_module = importlib.import_module("tracer.export")  # tracer.export is also a function

    monkeypatch.setattr(export_module, "IDENTITY_BATCH_ROWS", 128)
    src = tmp_path / "customers.csv"
    write_csv(make_customers(1000, seed=21), src)
    out = tmp_path / "out.csv"
    r = export_fn(ExportRequest(str(src), "R", "p", str(out)), home=home)
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) - 1 == r.rows + r.canaries == 1000 + r.canaries
    con = duckdb.connect(str(home.root / "lineage.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(DISTINCT row_key) FROM export_rows").fetchone()[0] == 1000
        assert con.execute("SELECT count(*) FROM source_identities WHERE kind = 1").fetchone()[0] == 1000
    finally:
        con.close()


def test_value_index_hashes_the_chosen_values_without_copying_them(block_function):
    values = pa.array(["a", "", "身份证", "x" * 100])
    index = np.array([3, 0, 0, 2, 1, 3], np.int32)
    keys = [K1, K2]
    key_index = np.array([0, 1, 0, 1, 0, 1], np.int32)
    got = fastprf.hmac_bytes(fastprf.Keys(keys), "m", values, key_index=key_index, value_index=index)
    vals = values.to_pylist()
    assert [bytes(r) for r in got] == [keys[k].mac("m", vals[v]) for v, k in zip(index, key_index)]
    for bad in ([4], [-1]):
        with pytest.raises(ValueError):
            fastprf.hmac_bytes(fastprf.Keys(keys), "m", values, value_index=np.array(bad, np.int32))


def test_mostly_null_columns_are_keyed_on_their_values_only(block_function):
    values = [None] * 30 + ["a", "13800138000", None, "x" * 70] + [None] * 30
    got = fastprf.digest64(fastprf.Keys([K1]), "L", pa.array(values)).to_pylist()
    assert got == expected_digests(K1, "L", values)
    index = np.arange(len(values)) % 2
    got = fastprf.digest64(fastprf.Keys([K1, K2]), "L", pa.array(values), key_index=index).to_pylist()
    assert got == [None if v is None else (K1, K2)[i].digest64("L", v) for v, i in zip(values, index)]
