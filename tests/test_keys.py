"""Keys (issue 7): kept apart from the store (mode 600, ids only in the store),
rotated without losing old exports, and a missing or wrong key is a clear
error, never a silent wrong answer."""

from __future__ import annotations

import os
import shutil
import stat

import duckdb
import pytest
from typer.testing import CliRunner

from canary.errors import KeyProblem
from canary.prf import Key
from tracer import ExportRequest, Home, attribute, export, init, leaks, rotate_key, verify
from tracer.cli import app
from tracer.lineage import customer_exports
from tracer.synthdata import make_customers, write_csv

runner = CliRunner()


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    """An export under the first key, a rotation, an export of the same source
    under the second key."""
    root = tmp_path_factory.mktemp("keys")
    h = Home.at(root / "home")
    first = init(h).key_id
    src = root / "customers.csv"
    write_csv(make_customers(600, seed=81), src)
    old = export(ExportRequest(str(src), "Old vendor", "p", str(root / "old.csv")), home=h)
    rotation = rotate_key(h)
    new = export(ExportRequest(str(src), "New vendor", "p", str(root / "new.csv")), home=h)
    return {"home": h, "root": root, "src": src, "first": first, "rotation": rotation, "old": old, "new": new}


def copy_home(world, tmp_path) -> Home:
    shutil.copytree(world["home"].root, tmp_path / "copy")
    return Home.at(tmp_path / "copy")


def leak_of(world, name: str, n: int = 80):
    path = world["root"] / f"leak-{name}.csv"
    leaks.write(path, leaks.sample(leaks.read(world["root"] / f"{name}.csv"), n, seed=3))
    return path


def test_rotation_makes_a_new_current_key_and_keeps_the_old(rotated):
    h, r = rotated["home"], rotated["rotation"]
    assert r.old_key_id == rotated["first"] and r.new_key_id != r.old_key_id
    assert h.current_key_id() == r.new_key_id
    assert rotated["old"].key_id == r.old_key_id and rotated["new"].key_id == r.new_key_id
    assert set(h.keyring()) == {r.old_key_id, r.new_key_id}
    for key_id in (r.old_key_id, r.new_key_id):
        assert stat.S_IMODE(os.stat(h.key_path(key_id)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(h.key_dir).st_mode) == 0o700
    # The store holds key ids, never a key.
    data = h.store_path.read_bytes()
    for key_id in (r.old_key_id, r.new_key_id):
        secret = h.load_key(key_id).export_bytes()
        assert secret not in data and secret.hex().encode() not in data
    con = duckdb.connect(str(h.store_path), read_only=True)
    try:
        signer = con.execute("SELECT key_id FROM ledger WHERE kind = 'key-rotate'").fetchone()[0]
        ids = {k for (k,) in con.execute("SELECT key_id FROM exports UNION SELECT key_id FROM sources").fetchall()}
    finally:
        con.close()
    assert signer == r.old_key_id  # the retiring key vouches for its successor
    assert ids == {r.old_key_id, r.new_key_id}


@pytest.mark.parametrize("who", ["old", "new"])
def test_exports_before_and_after_a_rotation_still_verify_and_attribute(rotated, who):
    assert verify(rotated["home"]).ok
    name = {"old": "Old vendor", "new": "New vendor"}[who]
    v = attribute(leak_of(rotated, who), home=rotated["home"])
    assert v.verdict == "accused" and [c.recipient for c in v.accused] == [name]


def test_a_missing_old_key_is_an_error_not_a_silent_miss(rotated, tmp_path):
    h = copy_home(rotated, tmp_path)
    h.key_path(rotated["first"]).unlink()
    with pytest.raises(KeyProblem, match=rotated["first"]):
        attribute(leak_of(rotated, "old"), home=h)
    with pytest.raises(KeyProblem, match=rotated["first"]):
        verify(h)
    ident = leaks.read(rotated["src"])[1][0][leaks.read(rotated["src"])[0].index("身份证号")]
    with pytest.raises(KeyProblem, match=rotated["first"]):  # not 'no recorded source holds this customer'
        customer_exports(ident, home=h)
    r = runner.invoke(app, ["attribute", str(leak_of(rotated, "old")), "--home", str(h.root)])
    assert r.exit_code == 1 and rotated["first"] in r.stderr and "TRACER_KEY_DIR" in r.stderr
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1


def test_a_wrong_key_file_is_refused(rotated, tmp_path):
    h = copy_home(rotated, tmp_path)
    path = h.key_path(rotated["first"])
    other = Key.generate()
    os.chmod(path, 0o600)
    path.write_text(f"tracer-key v1\n{rotated['first']}\n{other.export_bytes().hex()}\n")
    with pytest.raises(KeyProblem, match="wrong or edited key"):
        verify(h)
    with pytest.raises(KeyProblem, match="wrong or edited key"):
        attribute(leak_of(rotated, "old"), home=h)
    path.write_text("garbage")
    with pytest.raises(KeyProblem, match="unreadable or corrupt"):
        verify(h)


def test_a_missing_current_key_stops_an_export(rotated, tmp_path):
    h = copy_home(rotated, tmp_path)
    h.key_path(h.current_key_id()).unlink()
    r = runner.invoke(app, ["export", str(rotated["src"]), "--recipient", "X", "--out", str(tmp_path / "x.csv"),
                            "--home", str(h.root)])
    assert r.exit_code == 1 and "is missing" in r.stderr and "TRACER_KEY_DIR" in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_keys_can_live_elsewhere_via_tracer_key_dir(tmp_path, monkeypatch):
    vault = tmp_path / "vault"  # e.g. a secret manager mount
    monkeypatch.setenv("TRACER_KEY_DIR", str(vault))
    h = Home.at(tmp_path / "home")
    info = init(h)
    assert os.path.dirname(info.key_file) == str(vault) and not (h.root / "keys").exists()
    src = tmp_path / "c.csv"
    write_csv(make_customers(300, seed=82), src)
    export(ExportRequest(str(src), "R", "p", str(tmp_path / "r.csv")), home=h)
    rotate_key(h)
    assert len(list(vault.glob("*.key"))) == 2
    assert verify(h).ok
    monkeypatch.delenv("TRACER_KEY_DIR")
    with pytest.raises(KeyProblem, match="TRACER_KEY_DIR"):
        verify(h)


def test_cli_key_rotate(tmp_path):
    home = tmp_path / "h"
    assert runner.invoke(app, ["init", "--home", str(home)]).exit_code == 0
    before = Home.at(home).current_key_id()
    r = runner.invoke(app, ["key", "rotate", "--home", str(home)])
    assert r.exit_code == 0, r.output
    after = Home.at(home).current_key_id()
    assert after != before and after in r.stdout and before in r.stdout
    assert runner.invoke(app, ["verify", "--home", str(home)]).exit_code == 0


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_key_file_other_users_can_read_is_refused_in_one_line(rotated, tmp_path):
    """As ssh refuses such a private key: whoever reads it can forge or strip
    every export's marks and canaries. The error says what to run."""
    h = copy_home(rotated, tmp_path)
    path = h.key_path(rotated["first"])
    os.chmod(path, 0o644)
    with pytest.raises(KeyProblem, match="chmod 600"):
        attribute(leak_of(rotated, "old"), home=h)
    r = runner.invoke(app, ["attribute", str(leak_of(rotated, "old")), "--home", str(h.root)])
    assert r.exit_code == 1 and "chmod 600" in r.stderr and str(path) in r.stderr
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1
    os.chmod(path, 0o600)
    assert attribute(leak_of(rotated, "old"), home=h).verdict == "accused"
