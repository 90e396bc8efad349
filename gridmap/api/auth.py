"""API keys and roles.

Keys are never stored in clear: a key file (TOML or JSON) or the
``GRIDMAP_API_KEYS`` environment variable holds one entry per key::

    [[keys]]
    name = "grid worker, grid G01"          # for logs and /whoami, optional
    hash = "scrypt$16384$8$1$<salt hex>$<digest hex>"
    role = "staff"                           # public | staff | admin
    grids = ["G01", "G02"]                   # staff only: the grids this key may see

``hash`` is ``scrypt$N$r$p$salt$digest`` (made by :func:`hash_key`, salted) or,
for keys that are long random strings anyway, ``sha256$digest``. Make a new key
and its entry with ``python -m gridmap.api.auth --role staff --grids G01``.

Roles:

* ``public`` (also anyone without a key): boundaries without staff names and
  phones, facilities, per-grid aggregates; never households.
* ``staff``: as public, plus households (with personal fields) and staff
  contacts inside the key's grids only.
* ``admin``: everything, plus ``POST /admin/reload``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import tomllib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gridmap.errors import GridmapError

ROLES = ("public", "staff", "admin")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class AuthenticationError(GridmapError):
    """The API key is missing where one is needed, or it is not a known key."""

    http_status = 401


class PermissionDeniedError(GridmapError):
    """The key is valid but its role may not see what was asked for."""

    http_status = 403


class KeyFileError(GridmapError):
    """The API key file or GRIDMAP_API_KEYS cannot be read."""

    http_status = 500


@dataclass(frozen=True)
class Principal:
    """Who is asking: role, name and (for staff) the grids they may see."""

    role: str = "public"
    name: str = "anonymous"
    grids: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"

    @property
    def authenticated(self) -> bool:
        return self.name != "anonymous"

    def may_see_grid(self, grid_id: str | None) -> bool:
        """True if personal data inside ``grid_id`` may be shown to this principal."""
        if self.is_admin:
            return True
        return self.is_staff and grid_id is not None and grid_id in self.grids


ANONYMOUS = Principal()


def hash_key(key: str, *, salt: bytes | None = None) -> str:
    """Return the salted scrypt hash entry of ``key`` (``scrypt$N$r$p$salt$digest``)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(key.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_key(key: str, stored: str) -> bool:
    """Check ``key`` against one stored hash entry (constant-time compare)."""
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(v) for v in parts[1:4])
            salt, want = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
            got = hashlib.scrypt(key.encode(), salt=salt, n=n, r=r, p=p, dklen=len(want))
            return hmac.compare_digest(got, want)
        if parts[0] == "sha256" and len(parts) == 2:
            got = hashlib.sha256(key.encode()).digest()
            return hmac.compare_digest(got, bytes.fromhex(parts[1]))
    except (ValueError, OverflowError):
        return False
    return False


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
        if not isinstance(h, str) or h.split("$")[0] not in ("scrypt", "sha256"):
            raise KeyFileError(
                "the entry has no valid 'hash' (scrypt$... or sha256$...). Plain keys are not "
                "accepted: make one with 'python -m gridmap.api.auth'.",
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
        name = str(item.get("name") or f"key {i + 1}")
        out.append(KeyEntry(h, Principal(role, name, frozenset(str(g).strip() for g in grids))))
    return out


class KeyStore:
    """The configured keys, with a small cache of verified keys.

    scrypt is deliberately slow (tens of ms), so a key seen before is looked up
    in a bounded in-memory cache keyed by its SHA-256 instead of re-running
    scrypt on every request.
    """

    def __init__(self, entries: Iterable[KeyEntry] = (), cache_size: int = 1024) -> None:
        self.entries = list(entries)
        self._cache: OrderedDict[bytes, Principal | None] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> KeyStore:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyFileError(f"cannot read the key file ({exc.strerror})", file=str(p)) from exc
        try:
            data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise KeyFileError(f"the key file is not valid TOML/JSON ({exc})", file=str(p)) from exc
        return cls(_parse_entries(data, str(p)))

    @classmethod
    def from_settings(cls, keys_file: Path | None, api_keys: str | None) -> KeyStore:
        entries: list[KeyEntry] = []
        if keys_file:
            entries += cls.from_file(keys_file).entries
        if api_keys:
            try:
                data = json.loads(api_keys)
            except ValueError as exc:
                raise KeyFileError(
                    f"GRIDMAP_API_KEYS is not valid JSON ({exc})", file="GRIDMAP_API_KEYS"
                ) from exc
            entries += _parse_entries(data, "GRIDMAP_API_KEYS")
        return cls(entries)

    def cached(self, key: str | None) -> Principal | None:
        """The principal of an already verified key (or anonymous), without hashing.

        Returns None when ``key`` has not been seen yet; raises
        :class:`AuthenticationError` for a key already known to be invalid.
        """
        if key is None or key == "":
            return ANONYMOUS
        fp = hashlib.sha256(key.encode()).digest()
        with self._lock:
            if fp not in self._cache:
                return None
            found = self._cache[fp]
        if found is None:
            raise _unknown_key()
        return found

    def authenticate(self, key: str | None) -> Principal:
        """Return the principal of ``key``; anonymous without a key.

        Raises
        ------
        AuthenticationError
            A key was given but it is not configured.
        """
        if key is None or key == "":
            return ANONYMOUS
        fp = hashlib.sha256(key.encode()).digest()
        with self._lock:
            if fp in self._cache:
                self._cache.move_to_end(fp)
                found = self._cache[fp]
                if found is None:
                    raise _unknown_key()
                return found
        found = None
        for entry in self.entries:
            if verify_key(key, entry.hash):
                found = entry.principal
                break
        with self._lock:
            self._cache[fp] = found
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        if found is None:
            raise _unknown_key()
        return found


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
    args = ap.parse_args(argv)
    key = args.key or "gm_" + secrets.token_urlsafe(24)
    name = json.dumps(args.name or args.role, ensure_ascii=False)
    entry = f'[[keys]]\nname = {name}\nhash = "{hash_key(key)}"\n'
    entry += f'role = "{args.role}"\n'
    if args.grids:
        entry += f"grids = {json.dumps(args.grids, ensure_ascii=False)}\n"
    sys.stderr.write(f"API key (give it to its user; it is not stored): {key}\n")
    sys.stdout.write(entry)


if __name__ == "__main__":
    main()
