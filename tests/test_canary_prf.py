"""The keyed PRF: known answers, domain separation, and the SQL twin."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canary.prf import Key, Stream, export_key, identity_key
from forensics import sqlprf

VECTORS = json.loads((Path(__file__).parent / "vectors" / "prf.json").read_text())


def test_known_answers_match_an_independent_hmac():
    for v in VECTORS:
        key = Key(bytes.fromhex(v["key"]))
        got = key.mac(v["label"], v["message"]).hex()
        independent = hmac.new(bytes.fromhex(v["key"]), f"{v['label']}|{v['message']}".encode(),
                               hashlib.sha256).hexdigest()
        assert got == independent == v["mac"]
        assert key.key_id == v["key_id"]


def test_key_rejects_short_secrets_and_hides_itself():
    with pytest.raises(ValueError):
        Key(b"short")
    k = Key(b"\x01" * 32)
    assert "01" * 8 not in repr(k) and "redacted" in repr(k)
    assert k == Key(b"\x01" * 32) and k != Key(b"\x02" * 32)


def test_labels_separate_domains():
    k = Key(b"\x07" * 32)
    assert k.mac("mark/v1", "1") != k.mac("canary/v1", "1")
    assert identity_key(k) != export_key(k, "ex-1")
    assert export_key(k, "ex-1") != export_key(k, "ex-2")
    with pytest.raises(ValueError):
        k.mac("bad|label", "x")


def test_stream_is_deterministic_and_uniform_enough():
    k = Key(b"\x09" * 32)
    a = [Stream(k, "s").below(10) for _ in range(3)]
    s1, s2 = Stream(k, "s"), Stream(k, "s")
    assert [s1.below(1000) for _ in range(50)] == [s2.below(1000) for _ in range(50)]
    counts = [0] * 4
    s = Stream(k, "u")
    for _ in range(4000):
        counts[s.below(4)] += 1
    assert all(900 < c < 1100 for c in counts)
    assert len(set(a)) == 1


@settings(max_examples=30, deadline=None)
@given(secret=st.binary(min_size=32, max_size=64), messages=st.lists(st.text(max_size=40), min_size=1, max_size=8))
def test_sql_hmac_equals_python(secret, messages):
    key = Key(secret)
    con = duckdb.connect()
    sqlprf.set_key(con, "k", key)
    con.execute("CREATE TABLE m (v VARCHAR)")
    con.executemany("INSERT INTO m VALUES (?)", [[x] for x in messages])
    rows = con.execute(f"SELECT v, {sqlprf.hmac_hex('lab', 'v', var='k')}, {sqlprf.digest64('lab', 'v', var='k')} "
                       "FROM m").fetchall()
    for v, hexmac, d64 in rows:
        assert hexmac == key.mac("lab", v).hex()
        assert d64 == key.digest64("lab", v)


def reference_below(key: Key, label: str, counter: int, n: int) -> tuple[int, int]:
    """Stream.below from its definition: draw i is the first 8 bytes of
    HMAC(key, 'label|i'), rejected at or above the largest multiple of n."""
    limit = (1 << 64) - (1 << 64) % n
    while True:
        x = int.from_bytes(hmac.new(key.export_bytes(), f"{label}|{counter}".encode(), hashlib.sha256).digest()[:8],
                           "big")
        counter += 1
        if x < limit:
            return x % n, counter


@pytest.mark.parametrize("native", ["1", "0"], ids=["native blocks", "python"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.binary(min_size=32, max_size=64),
       label=st.sampled_from(["pool/7", "canary/v1", "池/7"]),
       sizes=st.lists(st.one_of(st.integers(1, 1000), st.integers(1, 1 << 64), st.just((1 << 63) + 1)),
                      min_size=1, max_size=120))
def test_stream_draws_are_the_prf_of_their_counter(native, secret, label, sizes, monkeypatch):
    # Pooled canaries are the same people in every export of a source only
    # while this never changes, whatever makes the stream faster (the native
    # core draws blocks of 16, 32, ... ahead: up to 120 sizes cross several).
    import canary.prf as prf

    monkeypatch.setenv("TRACER_NATIVE", native)
    key = Key(secret)
    stream, counter, want = Stream(key, label), 0, []
    assert (stream._core is not None) == (native == "1" and prf._native_core() is not None)
    for n in sizes:
        x, counter = reference_below(key, label, counter, n)
        want.append(x)
    assert [stream.below(n) for n in sizes] == want
    with pytest.raises(ValueError):
        stream.below(0)


def test_a_key_pickles_as_its_secret():
    import pickle

    k = Key(b"\x05" * 32)
    k.mac("a", "b")  # caches its hash states, which must not travel
    back = pickle.loads(pickle.dumps(k))
    assert back == k and back.mac("a", "b") == k.mac("a", "b")


def test_a_draw_below_more_than_two_to_the_64_is_refused_not_looped_forever():
    s = Stream(Key(b"k" * 32), "wide")
    assert 0 <= s.below(1 << 64) < 1 << 64
    with pytest.raises(ValueError):
        s.below((1 << 64) + 1)
