"""Interrupted exports: a file and its lineage record are written together or not at all.

An export announces itself in a journal before it writes anything and holds
an exclusive lock on its journal entry while it runs::

    $TRACER_HOME/pending/<export id>.json   (synced; locked while the export runs)
    -> temporary file beside the output, synced
    -> one lineage transaction: records + ledger entry (with the file's sha256), committed
    -> rename into place, directory synced
    -> journal entry removed

A crash (SIGKILL, power loss) at any moment leaves at most a journal entry
whose lock nobody holds. ``recover`` -- run by ``tracer verify`` and at the
start of every export -- finishes it or rolls it back: if the export was
committed, its temporary file (whose sha256 must match the record) is renamed
into place; if not, its temporary files are deleted. The output path
therefore only ever holds a complete, recorded file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - no advisory locks (Windows): never touch another's journal
    fcntl = None

from canary.errors import TracerError

from .home import Home


@dataclass
class Recovered:
    export_id: str
    action: str  # finished, rolled back, in progress, problem
    detail: str

    def __str__(self) -> str:
        return f"export {self.export_id}: {self.action} ({self.detail})"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _lock(fd: int, block: bool) -> bool:
    if fcntl is None:
        return block
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        return True
    except OSError:
        return False


class Pending:
    """One running export's journal entry, temporary files and scratch space."""

    def __init__(self, home: Home, export_id: str, out: Path) -> None:
        self.home, self.export_id, self.out = home, export_id, out
        self.tmp = out.parent / f".{out.name}.{export_id}.tmp"
        self.scratch = home.work_dir / export_id
        self.committed = False
        self.path = home.pending_dir / f"{export_id}.json"
        # Written and locked under a temporary name, then renamed: a recoverer
        # never sees an entry whose owner has not locked it yet.
        new = home.pending_dir / f".{export_id}.{os.getpid()}.json.new"
        self._fd = None
        try:
            home.pending_dir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            _lock(self._fd, block=True)
            data = {"export_id": export_id, "out": str(out), "tmp": str(self.tmp),
                    "scratch": str(self.scratch), "pid": os.getpid()}
            os.write(self._fd, json.dumps(data).encode())
            os.fsync(self._fd)
            os.replace(new, self.path)
            _fsync_dir(home.pending_dir)
        except OSError as e:  # a full disk, a read-only home: nothing started, nothing left
            if self._fd is not None:
                os.close(self._fd)
            _remove(new)
            raise TracerError(f"cannot write the export journal ({e.strerror})", path=str(home.pending_dir)) from None
        self.scratch.mkdir(parents=True, exist_ok=True)
        os.chmod(self.scratch, 0o700)  # the marked values and DuckDB's spill: customers' data, the owner's only
        try:  # fail now, not after the whole pipeline, if the output cannot be written
            open(self.tmp, "xb").close()
        except OSError as e:
            self.close()
            raise TracerError(f"output folder is not writable ({e.strerror})", path=str(out.parent)) from None

    def place(self) -> None:
        """After the commit: rename the synced temporary file into place."""
        os.replace(self.tmp, self.out)
        _fsync_dir(self.out.parent)

    def close(self) -> None:
        """Done (or failed): remove what is not needed. A failure after the
        commit keeps the journal entry so that recovery puts the file in place."""
        if not self.committed:
            _remove(self.tmp)
        shutil.rmtree(self.scratch, ignore_errors=True)
        if not self.committed or not self.tmp.exists():
            self.path.unlink(missing_ok=True)
            _fsync_dir(self.home.pending_dir)
        os.close(self._fd)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def recover(home: Home, con) -> list[Recovered]:
    """Finish or roll back every export whose process died; ``con`` has the
    store attached (an export that committed is in ``store.exports``)."""
    out: list[Recovered] = []
    if not home.pending_dir.exists():
        return out
    for path in sorted(home.pending_dir.glob(".*.json.new")):
        _drop_unborn(path)
    for path in sorted(home.pending_dir.glob("*.json")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue  # finished meanwhile
        try:
            if fcntl is None or not _lock(fd, block=False):
                out.append(Recovered(path.stem, "in progress", "another process is running it"))
                continue
            if not path.exists():
                continue  # its owner finished while we waited for the lock
            out.append(_recover_one(home, con, path))
        finally:
            os.close(fd)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def _remove(path: Path) -> None:
    """Delete ``path`` if it is there. A path under a file instead of a folder
    (an --out of "a_file/x.csv") cannot be there: unlink raises
    NotADirectoryError on it, which left the entry unrecoverable and every
    later export failing."""
    try:
        path.unlink(missing_ok=True)
    except NotADirectoryError:
        pass


def _drop_unborn(path: Path) -> None:
    """An entry its owner died writing (before any file was made); its
    owner's pid is in the name, as the file may still be empty."""
    try:
        pid = int(path.name.rsplit(".", 3)[-3])
    except (ValueError, IndexError):
        return
    if pid == os.getpid() or _alive(pid):
        return
    path.unlink(missing_ok=True)


def _recover_one(home: Home, con, path: Path) -> Recovered:
    try:
        data = json.loads(path.read_text())
        export_id, tmp = data["export_id"], Path(data["tmp"])
        raw = data.get("raw")  # a scratch CSV that exports of earlier versions wrote beside the output
        Path(data["out"])  # a complete entry names its output; the store holds the path used
        scratch = Path(data["scratch"])
    except (ValueError, KeyError, TypeError, OSError):
        # An unreadable entry: its owner died while writing it, before any file.
        path.unlink(missing_ok=True)
        return Recovered(path.stem, "rolled back", "incomplete journal entry removed")
    row = con.execute("SELECT sha256, out_path FROM store.exports WHERE export_id = ?", [export_id]).fetchone()
    if raw:
        _remove(Path(raw))
    shutil.rmtree(scratch, ignore_errors=True)
    if row is None:
        existed = tmp.exists()
        _remove(tmp)
        path.unlink(missing_ok=True)
        _fsync_dir(home.pending_dir)
        return Recovered(export_id, "rolled back", "not recorded; temporary file deleted" if existed
                         else "not recorded; nothing was written")
    sha, recorded_out = row
    if tmp.exists():
        if sha256_file(tmp) != sha:
            return Recovered(export_id, "problem", f"temporary file {tmp} does not match its record; left for "
                                                   "inspection")
        os.replace(tmp, recorded_out)
        _fsync_dir(Path(recorded_out).parent)
        action = Recovered(export_id, "finished", f"recorded; file moved into place at {recorded_out}")
    else:
        action = Recovered(export_id, "finished", "recorded; file already in place")
    path.unlink(missing_ok=True)
    _fsync_dir(home.pending_dir)
    return action


class ExportInterrupted(TracerError):
    """The export was recorded but its file could not be put in place."""
