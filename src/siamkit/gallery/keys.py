"""API keys for the service: a file of hashed keys, each with a name and a read or write scope.

The file holds one key per line, ``NAME SCOPE sha256:HEX``, and never the key itself:
``siamkit keys add FILE NAME --scope write`` makes a random key, prints it once and appends its
hash. A client sends the key as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``. Write scope
includes read. Keys are random 256-bit tokens, so one SHA-256 is enough to store them (there is
no password to guess), and a lookup compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from siamkit.errors import SiamkitError

SCOPES = ("read", "write")
_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_.@-]{1,64})\s+(?P<scope>read|write)\s+sha256:(?P<digest>[0-9a-f]{64})$")
KEY_PREFIX = "sk_"


@dataclass(frozen=True)
class ApiKey:
    name: str
    scope: str

    def allows(self, scope: str) -> bool:
        return self.scope == "write" or scope == "read"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class KeyFile:
    """The keys a server accepts, read once at start."""

    def __init__(self, keys: dict[str, ApiKey], path: Path | None = None):
        self._keys = keys
        self.path = path

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "KeyFile":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SiamkitError(f"--api-keys {path}: no such file (siamkit keys add {path} NAME --scope write makes one)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SiamkitError(f"--api-keys {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
        keys: dict[str, ApiKey] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = _LINE.match(line)
            if match is None:
                raise SiamkitError(f"--api-keys {path}, line {number}: expected 'NAME read|write sha256:HEX' (siamkit keys add writes such lines)")
            keys[match["digest"]] = ApiKey(match["name"], match["scope"])
        if not keys:
            raise SiamkitError(f"--api-keys {path}: no keys in it (siamkit keys add {path} NAME --scope write)")
        return cls(keys, path)

    def find(self, key: str | None) -> ApiKey | None:
        """The key's entry, or None for a key this server does not know."""
        if not key:
            return None
        wanted = digest(key)
        found = None
        for known, entry in self._keys.items():  # every entry compared: no early exit to time
            if hmac.compare_digest(known, wanted):
                found = entry
        return found


def add_key(path: str | os.PathLike, name: str, scope: str) -> str:
    """Make a new key, append its hash to ``path`` (created 0600) and return the key itself."""
    path = Path(path)
    if scope not in SCOPES:
        raise SiamkitError(f"--scope {scope!r}: read or write")
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
        raise SiamkitError(f"key name {name!r}: 1-64 letters, digits or _ . @ -")
    existing = KeyFile.load(path) if path.is_file() and path.stat().st_size else None
    if existing is not None and any(entry.name == name for entry in existing._keys.values()):
        raise SiamkitError(f"{path}: a key named {name!r} is already there; remove its line first or choose another name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
            handle.write(f"{name} {scope} sha256:{digest(key)}\n")
    except OSError as exc:
        raise SiamkitError(f"{path}: cannot write the key file ({exc.strerror or exc})") from None
    return key
