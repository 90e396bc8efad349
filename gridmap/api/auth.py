"""API keys and roles.

API keys are random secrets, so they are stored as a fast hash, never in
clear, and checked in constant time. A key file (TOML or JSON) or the
``GRIDMAP_API_KEYS`` environment variable holds one entry per key::

    [[keys]]
    name = "grid worker, grid G01"          # for logs and /whoami, optional
    hash = "sha256$3f9c1a2b$<digest hex>"   # made by python -m gridmap.api.auth
    role = "staff"                           # public | staff | admin
    grids = ["G01", "G02"]                   # staff only: the grids this key may see
    rate_per_s = 5                           # optional: requests per second for this key

A key looks like ``gm_<key id>_<secret>``: the key id (8 hex digits) is
public and picks the entry, so a request with an unknown key costs a
dictionary look-up and nothing else, and a known id costs one SHA-256. Hash
entries:

* ``sha256$<key id>$<digest>``: SHA-256 of the whole key (the default);
* ``hmac-sha256$<key id>$<digest>``: HMAC-SHA-256 of the key with the server
  secret ``GRIDMAP_KEY_SECRET`` (a stolen key file is then useless without it);
* ``sha256$<digest>`` / ``hmac-sha256$<digest>``: for keys without an id; the
  digest of the presented key is looked up (one hash per request at most).

Slow password hashes (``scrypt$``) are refused: they made every unknown key
cost the server one scrypt per configured key. Keys are random 32-byte
secrets, not passwords, so a fast hash is safe; keys shorter than
:data:`MIN_KEY_LENGTH` characters are refused when hashed.

Roles:

* ``public`` (also anyone without a key): boundaries without staff names and
  phones, facilities, per-grid aggregates; never households.
* ``staff``: as public, plus households (with personal fields) and staff
  contacts inside the key's grids only (see :mod:`gridmap.policy.privacy`).
* ``admin``: everything, plus ``POST /admin/reload``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
import tomllib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gridmap.errors import GridmapError

ROLES = ("public", "staff", "admin")
#: Shortest key accepted by :func:`hash_key` (keys are random secrets, not passwords).
MIN_KEY_LENGTH = 20
#: Longest key header looked at; anything longer is refused without hashing.
MAX_KEY_LENGTH = 256
KEY_PREFIX = "gm_"
_KEY_RE = re.compile(r"^gm_([0-9a-f]{8})_[A-Za-z0-9_\-]{16,}$")
_SCHEMES = ("sha256", "hmac-sha256")


class AuthenticationError(GridmapError):
    """The API key is missing where one is needed, or it is not a known key."""

    http_status = 401


class PermissionDeniedError(GridmapError):
    """The key is valid but its role may not see what was asked for."""

    http_status = 403


class KeyFileError(GridmapError):
    """The API key file or GRIDMAP_API_KEYS cannot be read."""

    http_status = 500


class TooManyRequestsError(GridmapError):
    """Too many requests (or failed keys) from one client or key: retry later."""

    http_status = 429

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))


@dataclass(frozen=True)
class Principal:
    """Who is asking: role, name and (for staff) the grids they may see."""

    role: str = "public"
    name: str = "anonymous"
    grids: frozenset[str] = field(default_factory=frozenset)
    rate_per_s: float | None = None  # this key's own request rate limit, if any

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"

    @property
    def authenticated(self) -> bool:
        return self.name != "anonymous"

    @property
    def policy_role(self) -> str:
        """The role in the privacy policy: anonymous, staff or admin."""
        return self.role if self.role in ("staff", "admin") else "anonymous"

    def may_see_grid(self, grid_id: str | None) -> bool:
        """True if personal data inside ``grid_id`` may be shown to this principal."""
        if self.is_admin:
            return True
        return self.is_staff and grid_id is not None and grid_id in self.grids


ANONYMOUS = Principal()


def key_id(key: str) -> str | None:
    """The public id of a ``gm_<id>_<secret>`` key, or None for other keys."""
    m = _KEY_RE.match(key)
    return m.group(1) if m else None


def _digest(key: str, scheme: str, secret: bytes | None) -> bytes:
    if scheme == "hmac-sha256":
        if not secret:
            raise KeyFileError(
                "hmac-sha256 key entries need the server secret (GRIDMAP_KEY_SECRET)"
            )
        return hmac.new(secret, key.encode(), hashlib.sha256).digest()
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    """A new random key ``gm_<8 hex id>_<43 url-safe characters>`` (256-bit secret)."""
    return f"{KEY_PREFIX}{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


def hash_key(key: str, *, secret: bytes | str | None = None) -> str:
    """The key-file ``hash`` entry of ``key``.

    ``sha256$<id>$<digest>`` for a ``gm_<id>_...`` key (``sha256$<digest>``
    for other keys); ``hmac-sha256$...`` when a server ``secret`` is given.

    Raises
    ------
    GridmapError
        The key is shorter than :data:`MIN_KEY_LENGTH` characters.
    """
    if len(key) < MIN_KEY_LENGTH:
        raise GridmapError(
            f"an API key must be a random secret of at least {MIN_KEY_LENGTH} characters; "
            "let python -m gridmap.api.auth make one"
        )
    if isinstance(secret, str):
        secret = secret.encode()
    scheme = "hmac-sha256" if secret else "sha256"
    kid = key_id(key)
    digest = _digest(key, scheme, secret).hex()
    return f"{scheme}${kid}${digest}" if kid else f"{scheme}${digest}"


def _parse_hash(h: str) -> tuple[str, str | None, bytes] | None:
    """(scheme, key id or None, digest) of a hash entry, or None if malformed."""
    parts = h.split("$")
    if not parts or parts[0] not in _SCHEMES or len(parts) not in (2, 3):
        return None
    kid = parts[1] if len(parts) == 3 else None
    if kid is not None and not re.fullmatch(r"[0-9a-f]{8}", kid):
        return None
    try:
        digest = bytes.fromhex(parts[-1])
    except ValueError:
        return None
    return (parts[0], kid, digest) if len(digest) == 32 else None


def verify_key(key: str, stored: str, *, secret: bytes | str | None = None) -> bool:
    """Check ``key`` against one stored hash entry (constant-time compare)."""
    parsed = _parse_hash(stored)
    if parsed is None:
        return False
    scheme, kid, want = parsed
    if kid is not None and key_id(key) != kid:
        return False
    if isinstance(secret, str):
        secret = secret.encode()
    try:
        got = _digest(key, scheme, secret)
    except KeyFileError:
        return False
    return hmac.compare_digest(got, want)


@dataclass(frozen=True)
class KeyEntry:
    """One configured key: its hash and the principal it stands for."""

    hash: str
    principal: Principal


def _parse_entries(data, source: str) -> list[KeyEntry]:
    if isinstance(data, dict):
        data = data.get("keys", [])
    if not isinstance(data, list):
        raise KeyFileError("expected a list of keys (or a 'keys' list)", file=source)
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise KeyFileError("each key entry must be a table/object", file=source, row=i + 1)
        h = item.get("hash")
        role = item.get("role", "public")
        if isinstance(h, str) and h.startswith("scrypt$"):
            raise KeyFileError(
                "scrypt key entries are no longer accepted (each unknown key cost the server "
                "one scrypt): make a new key with 'python -m gridmap.api.auth' and give it "
                "to its user",
                file=source,
                row=i + 1,
            )
        if not isinstance(h, str) or _parse_hash(h) is None:
            raise KeyFileError(
                "the entry has no valid 'hash' (sha256$... or hmac-sha256$...). Plain keys are "
                "not accepted: make one with 'python -m gridmap.api.auth'.",
                file=source,
                row=i + 1,
            )
        if role not in ROLES:
            raise KeyFileError(
                f"unknown role '{role}' (use one of {', '.join(ROLES)})", file=source, row=i + 1
            )
        grids = item.get("grids", [])
        if isinstance(grids, str):
            grids = [grids]
        if role == "staff" and not grids:
            raise KeyFileError(
                "a staff key needs 'grids' (the grid ids it may see)", file=source, row=i + 1
            )
        rate = item.get("rate_per_s")
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0
        ):
            raise KeyFileError(
                "rate_per_s must be a positive number (requests per second)",
                file=source,
                row=i + 1,
            )
        name = str(item.get("name") or f"key {i + 1}")
        grid_set = frozenset(str(g).strip() for g in grids)
        principal = Principal(role, name, grid_set, float(rate) if rate else None)
        out.append(KeyEntry(h, principal))
    return out


class KeyStore:
    """The configured keys, indexed so that rejecting a key costs (almost) nothing.

    Entries with a key id are found by the id of the presented key (a dict
    look-up; an unknown id is refused without hashing); entries without an id
    by the digest of the presented key (one SHA-256, one HMAC if such entries
    exist). :attr:`hash_calls` counts the digests computed.
    """

    def __init__(self, entries: Iterable[KeyEntry] = (), secret: bytes | str | None = None):
        if isinstance(secret, str):
            secret = secret.encode()
        self.secret = secret or None
        self.entries = list(entries)
        self._by_id: dict[str, tuple[str, bytes, Principal]] = {}
        self._by_digest: dict[tuple[str, bytes], Principal] = {}
        self._schemes_without_id: set[str] = set()
        self.hash_calls = 0
        for e in self.entries:
            scheme, kid, digest = _parse_hash(e.hash)
            if scheme == "hmac-sha256" and not self.secret:
                raise KeyFileError(
                    f"key '{e.principal.name}' is hmac-sha256 but no server secret is set "
                    "(GRIDMAP_KEY_SECRET)"
                )
            if kid is not None:
                if kid in self._by_id:
                    raise KeyFileError(f"two key entries share the key id {kid}")
                self._by_id[kid] = (scheme, digest, e.principal)
            else:
                self._by_digest[(scheme, digest)] = e.principal
                self._schemes_without_id.add(scheme)

    @classmethod
    def from_file(cls, path: str | os.PathLike, secret: bytes | str | None = None) -> KeyStore:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyFileError(f"cannot read the key file ({exc.strerror})", file=str(p)) from exc
        try:
            data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise KeyFileError(f"the key file is not valid TOML/JSON ({exc})", file=str(p)) from exc
        return cls(_parse_entries(data, str(p)), secret)

    @classmethod
    def from_settings(
        cls, keys_file: Path | None, api_keys: str | None, secret: bytes | str | None = None
    ) -> KeyStore:
        entries: list[KeyEntry] = []
        if keys_file:
            entries += cls.from_file(keys_file, secret).entries
        if api_keys:
            try:
                data = json.loads(api_keys)
            except ValueError as exc:
                raise KeyFileError(
                    f"GRIDMAP_API_KEYS is not valid JSON ({exc})", file="GRIDMAP_API_KEYS"
                ) from exc
            entries += _parse_entries(data, "GRIDMAP_API_KEYS")
        return cls(entries, secret)

    def authenticate(self, key: str | None) -> Principal:
        """Return the principal of ``key``; anonymous without a key.

        Raises
        ------
        AuthenticationError
            A key was given but it is not configured.
        """
        if key is None or key == "":
            return ANONYMOUS
        if len(key) > MAX_KEY_LENGTH:
            raise _unknown_key()
        kid = key_id(key)
        if kid is not None and kid in self._by_id:
            scheme, want, principal = self._by_id[kid]
            self.hash_calls += 1
            if hmac.compare_digest(_digest(key, scheme, self.secret), want):
                return principal
            raise _unknown_key()
        for scheme in sorted(self._schemes_without_id):
            self.hash_calls += 1
            got = _digest(key, scheme, self.secret)
            found = self._by_digest.get((scheme, got))
            if found is not None:
                return found
        raise _unknown_key()


class RateLimiter:
    """Token buckets per name (a client address, a key), bounded in number (LRU).

    ``take(name, rate, burst)`` returns 0 when a token was taken, else the
    seconds until the next token.
    """

    def __init__(self, max_names: int = 10_000) -> None:
        self.max_names = max_names
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _bucket(self, name: str, rate: float, burst: float, now: float) -> list[float]:
        b = self._buckets.get(name)
        if b is None:
            b = self._buckets[name] = [float(burst), now]
            while len(self._buckets) > self.max_names:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(name)
            b[0] = min(float(burst), b[0] + (now - b[1]) * rate)
            b[1] = now
        return b

    def take(self, name: str, rate: float, burst: float) -> float:
        """Take one token from ``name``'s bucket; 0 if taken, else seconds to wait."""
        now = time.monotonic()
        with self._lock:
            b = self._bucket(name, rate, burst, now)
            if b[0] >= 1:
                b[0] -= 1
                return 0.0
            return (1 - b[0]) / rate

    def waiting(self, name: str, rate: float, burst: float) -> float:
        """Seconds until ``name`` has a token again (0: it has one); takes nothing."""
        now = time.monotonic()
        with self._lock:
            if name not in self._buckets:
                return 0.0
            b = self._bucket(name, rate, burst, now)
            return 0.0 if b[0] >= 1 else (1 - b[0]) / rate

    def __len__(self) -> int:
        return len(self._buckets)


def _unknown_key() -> AuthenticationError:
    return AuthenticationError(
        "the API key is not valid. Check the X-API-Key header, or ask the administrator "
        "for a key; public data needs no key."
    )


def key_from_headers(headers) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer KEY``."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def main(argv: list[str] | None = None) -> None:
    """Make a new random key and print its key-file entry (the key is shown once)."""
    ap = argparse.ArgumentParser(
        prog="python -m gridmap.api.auth", description="Make a new gridmap API key."
    )
    ap.add_argument("--role", choices=ROLES, default="staff")
    ap.add_argument("--grids", nargs="*", default=[], help="grid ids (staff keys)")
    ap.add_argument("--name", default="")
    ap.add_argument("--key", help="hash this key instead of making a random one")
    ap.add_argument(
        "--hmac",
        action="store_true",
        help="store HMAC-SHA-256 with the server secret from GRIDMAP_KEY_SECRET",
    )
    args = ap.parse_args(argv)
    key = args.key or new_key()
    secret = os.environ.get("GRIDMAP_KEY_SECRET") if args.hmac else None
    if args.hmac and not secret:
        ap.error("--hmac needs the server secret in GRIDMAP_KEY_SECRET")
    try:
        h = hash_key(key, secret=secret)
    except GridmapError as exc:
        ap.error(str(exc))
    name = json.dumps(args.name or args.role, ensure_ascii=False)
    entry = f'[[keys]]\nname = {name}\nhash = "{h}"\n'
    entry += f'role = "{args.role}"\n'
    if args.grids:
        entry += f"grids = {json.dumps(args.grids, ensure_ascii=False)}\n"
    sys.stderr.write(f"API key (give it to its user; it is not stored): {key}\n")
    sys.stdout.write(entry)


if __name__ == "__main__":
    main()
