"""Where tracer keeps its state: the lineage store and, apart from it, the keys.

    $TRACER_HOME (default ~/.tracer)
      lineage.duckdb        the lineage store: key ids only, never a key
      pending/              the journal of running exports (crash recovery)
      tmp/                  scratch space
      keys/                 mode 700; or $TRACER_KEY_DIR (a secret manager mount)
        current             the id of the key new exports use
        <key id>.key        mode 600: one secret key
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from canary.errors import KeyProblem, NotInitialised
from canary.prf import Key

KEY_MAGIC = "tracer-key v1"


def default_home() -> Path:
    env = os.environ.get("TRACER_HOME")
    return Path(env).expanduser() if env else Path.home() / ".tracer"


STORE_FILE = "lineage.duckdb"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike | None = None) -> "Home":
        return cls(Path(root).expanduser().resolve() if root else default_home().resolve())

    @property
    def store_path(self) -> Path:
        return self.root / STORE_FILE

    @property
    def key_dir(self) -> Path:
        env = os.environ.get("TRACER_KEY_DIR")
        return Path(env).expanduser() if env else self.root / "keys"

    @property
    def work_dir(self) -> Path:
        """Scratch space for DuckDB spills and transcoded files."""
        return self.root / "tmp"

    @property
    def pending_dir(self) -> Path:
        """The journal of running exports (see tracer.journal)."""
        return self.root / "pending"

    def protected(self, path: Path) -> str | None:
        """What writing ``path`` would do to tracer's own state ("overwrite the
        lineage store", "write into the key folder"), or None."""
        p = path.expanduser().resolve()
        store = self.store_path.resolve()
        if p in (store, store.with_name(store.name + ".wal")):
            return "overwrite the lineage store"
        for folder, what in ((self.key_dir, "the key folder"), (self.pending_dir, "the export journal"),
                             (self.work_dir, "tracer's scratch folder"), (self.root / "receipts", "the receipts folder")):
            f = folder.expanduser().resolve()
            if p == f or f in p.parents:
                return f"write into {what}"
        return None

    def exists(self) -> bool:
        return self.store_path.exists()

    def require(self) -> None:
        if not self.exists():
            raise NotInitialised(f"no tracer home at {self.root}: run `tracer init` first")

    # --- keys -------------------------------------------------------------

    def key_path(self, key_id: str) -> Path:
        return self.key_dir / f"{key_id}.key"

    def current_key_id(self) -> str:
        cur = self.key_dir / "current"
        if not cur.exists():
            raise KeyProblem(f"no current key in {self.key_dir}: run `tracer init`")
        return cur.read_text().strip()

    def load_key(self, key_id: str | None = None) -> Key:
        """The key with this id (default: the current one), checked against its id."""
        key_id = key_id or self.current_key_id()
        path = self.key_path(key_id)
        if not path.exists():
            raise KeyProblem(f"key {key_id} is missing (looked in {self.key_dir}); "
                             "set TRACER_KEY_DIR if keys live elsewhere")
        mode = path.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            # As ssh refuses a private key others can read: anyone who reads it can forge
            # marks and canaries for every export made with it, or strip them.
            raise KeyProblem(f"key file can be read or changed by other users (mode {stat.S_IMODE(mode):o}): "
                             f"run chmod 600 on it", path=str(path))
        try:
            _, stored_id, secret_hex = _parse_key_file(path)
            key = Key(bytes.fromhex(secret_hex))
        except (ValueError, OSError):
            raise KeyProblem("key file is unreadable or corrupt", path=str(path)) from None
        if key.key_id != key_id or stored_id != key_id:
            raise KeyProblem(f"key file does not hold key {key_id} (wrong or edited key)", path=str(path))
        return key

    def keyring(self) -> dict[str, Key]:
        """Every key present, by id: old exports stay attributable after a rotation."""
        ring: dict[str, Key] = {}
        if self.key_dir.exists():
            for p in sorted(self.key_dir.glob("*.key")):
                ring[p.stem] = self.load_key(p.stem)
        return ring

    def write_key(self, key: Key, *, make_current: bool = True) -> Path:
        self.key_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.key_dir, stat.S_IRWXU)
        path = self.key_path(key.key_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{KEY_MAGIC}\n{key.key_id}\n{key.export_bytes().hex()}\n")
            f.flush()
            os.fsync(f.fileno())
        if make_current:
            self.set_current(key.key_id)
        return path

    def set_current(self, key_id: str) -> None:
        """Make ``key_id`` the key new exports use (atomically)."""
        self.load_key(key_id)  # never point at a missing or wrong key
        tmp = self.key_dir / f"current.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(key_id + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.key_dir / "current")


def _parse_key_file(path: Path) -> tuple[str, str, str]:
    lines = path.read_text().splitlines()
    if len(lines) < 3 or lines[0].strip() != KEY_MAGIC:
        raise ValueError("not a tracer key file")
    return lines[0].strip(), lines[1].strip(), lines[2].strip()
