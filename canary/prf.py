"""The keyed PRF every secret in tracer comes from.

HMAC-SHA256 with domain labels: a label names what the output is for
("identity/idno", "mark/v1", "canary/v1"), so outputs for different purposes
are independent even under the same key. Messages are text, joined to the
label with "|", because the same function is evaluated inside DuckDB for
columnar work (see forensics.sqlprf) and text is what both sides agree on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from array import array

SCHEME = "hmac-sha256/v1"
_BLOCK = 64  # SHA-256 block size, for the HMAC pads
MIN_KEY_BYTES = 32


class Key:
    """A secret key. Compare and print it safely; derive subkeys by label."""

    __slots__ = ("_secret", "_states", "key_id")

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, (bytes, bytearray)) or len(secret) < MIN_KEY_BYTES:
            raise ValueError(f"a key needs at least {MIN_KEY_BYTES} secret bytes")
        if len(secret) > _BLOCK:
            raise ValueError(f"a key holds at most {_BLOCK} bytes")
        self._secret = bytes(secret)
        self._states = None  # HMAC pad midstates, made on first use
        # The id is itself a PRF output: it names the key without revealing it,
        # and a wrong key file is caught by comparing ids.
        self.key_id = "k" + hmac.new(self._secret, b"tracer/key-id", hashlib.sha256).hexdigest()[:15]

    @classmethod
    def generate(cls) -> "Key":
        return cls(secrets.token_bytes(MIN_KEY_BYTES))

    def __repr__(self) -> str:
        return f"Key(key_id={self.key_id!r}, secret=<redacted>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.key_id)

    def __reduce__(self):  # the cached hash states do not pickle; the secret rebuilds them
        return (Key, (self._secret,))

    def _pad_states(self) -> tuple:
        """SHA-256 states after the inner and outer pads: an HMAC is then two
        copies and two short updates (about 1 us against 2.5 us for a keyed
        one-shot, which redoes the pads every call). Hazmat, like hmac_pads."""
        if self._states is None:
            ipad, opad = self.hmac_pads()
            self._states = (hashlib.sha256(ipad), hashlib.sha256(opad))
        return self._states

    def mac(self, label: str, message: str) -> bytes:
        """HMAC-SHA256 of ``label|message``: 32 bytes."""
        if "|" in label:
            raise ValueError("a PRF label may not contain '|'")
        inner, outer = self._states or self._pad_states()
        h = inner.copy()
        h.update(f"{label}|{message}".encode("utf-8"))
        o = outer.copy()
        o.update(h.digest())
        return o.digest()

    def derive(self, label: str) -> "Key":
        """An independent subkey for one purpose (e.g. one export)."""
        return Key(self.mac("derive", label))

    def digest64(self, label: str, message: str) -> int:
        """The first 8 bytes of the PRF as an unsigned integer (a UBIGINT)."""
        return int.from_bytes(self.mac(label, message)[:8], "big")

    def hmac_pads(self) -> tuple[bytes, bytes]:
        """The HMAC inner and outer padded keys.

        Hazmat: only for evaluating this same PRF in a vectorised engine
        (forensics.sqlprf). Never log or store them.
        """
        k = self._secret.ljust(_BLOCK, b"\0")
        return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)

    def export_bytes(self) -> bytes:
        """The secret, for writing the key file. Hazmat."""
        return self._secret


def identity_key(master: Key) -> Key:
    """The key for identity digests: the same for every export, so a customer
    links across exports and lineage can answer 'who received customer X'."""
    return master.derive("identity/v1")


def export_key(master: Key, export_id: str) -> Key:
    """The key for one export's marks and canaries: independent per export,
    so two recipients' marks on the same cell are unrelated."""
    return master.derive(f"export/v1/{export_id}")


_LIMITS: dict[int, int] = {}  # n -> largest multiple of n below 2**64 (rejection bound)


def _limit(n: int) -> int:
    if not 0 < n <= 1 << 64:  # past 2**64 no draw would be accepted: a loop forever
        raise ValueError("n must be in 1..2**64")
    limit = (1 << 64) - ((1 << 64) % n)
    if len(_LIMITS) < 4096:  # a few sizes recur (10, row counts); never grow without bound
        _LIMITS[n] = limit
    return limit


def _native_core():
    """canary._prfcore where it was built and not turned off (TRACER_NATIVE=0)."""
    if os.environ.get("TRACER_NATIVE", "1") == "0":
        return None
    try:
        from canary import _prfcore
    except ImportError:  # pragma: no cover - machines without a C compiler
        return None
    return _prfcore


class Stream:
    """Deterministic keyed randomness for the few places a loop is fine
    (canary synthesis): integers and choices drawn from the PRF.

    Draw i is the first 8 bytes of ``key.mac(label, str(i))``. The native
    PRF core computes draws a block at a time (blocks grow from 16 to 512:
    a stream used for one canary wastes little); without it the inner state
    is kept past ``label|``, so a draw hashes only its counter."""

    __slots__ = ("_block", "_core", "_counter", "_inner", "_key", "_label", "_mids", "_outer", "_ready")

    def __init__(self, key: Key, label: str) -> None:
        if "|" in label:
            raise ValueError("a PRF label may not contain '|'")
        self._key = key
        self._label = label
        self._counter = 0
        self._core = _native_core()
        self._ready: list[int] = []  # drawn ahead, last first
        self._block = 16
        if self._core is not None:
            self._mids = self._core.midstates(b"".join(key.hmac_pads()))
        else:
            inner, self._outer = key._pad_states()
            self._inner = inner.copy()
            self._inner.update(f"{label}|".encode("utf-8"))

    def _next(self) -> int:
        if self._core is not None:
            if not self._ready:
                self._draw_block()
            return self._ready.pop()
        h = self._inner.copy()
        h.update(str(self._counter).encode())
        self._counter += 1
        o = self._outer.copy()
        o.update(h.digest())
        return int.from_bytes(o.digest()[:8], "big")

    def _draw_block(self) -> None:
        n, first = self._block, self._counter
        counters = [str(i).encode() for i in range(first, first + n)]
        offsets = array("i", [0])
        for c in counters:
            offsets.append(offsets[-1] + len(c))
        out = array("Q", bytes(8 * n))
        self._core.hmac(self._mids, None, None, f"{self._label}|".encode("utf-8"), offsets, False,
                        b"".join(counters), n, n, 0, out, 1)
        self._ready = out.tolist()[::-1]
        self._counter += n
        self._block = min(2 * n, 512)

    def below(self, n: int) -> int:
        """A uniform integer in [0, n) (rejection sampling, no modulo bias)."""
        limit = _LIMITS.get(n) or _limit(n)
        while True:
            x = self._next()
            if x < limit:
                return x % n

    def uniform(self) -> float:
        return self._next() / float(1 << 64)

    def choice(self, items):
        return items[self.below(len(items))]

    def digits(self, n: int) -> str:
        return "".join([str(self.below(10)) for _ in range(n)])
