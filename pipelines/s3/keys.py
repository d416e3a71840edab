"""The gateway's key pairs: the owner's (everything) and read-only consumers' (readers).

The owner's pair comes from `PACHMEDIA_S3_ACCESS_KEY` and `PACHMEDIA_S3_SECRET_KEY` when both
are set; otherwise it is generated once into `<home>/s3-keys.json` (mode 0600) and reused, so
`pachmedia s3 keys` can show it and clients keep working across restarts. Readers are named
pairs in the same file (`pachmedia s3 keys --add-reader NAME`); a running gateway sees a reader
added or removed at its next request (the file is re-read when it changes).

File: {"access_key": ..., "secret_key": ..., "readers": {NAME: {"access_key": ..., "secret_key": ...}}}
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import UsageError

ACCESS_ENV = "PACHMEDIA_S3_ACCESS_KEY"
SECRET_ENV = "PACHMEDIA_S3_SECRET_KEY"
KEYS_FILE = "s3-keys.json"
OWNER_ID = "pachmedia"  # the owner's canonical id in ACLs; no reader may take it
READER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the owner, a reader (by name), or nobody (unsigned)."""
    kind: str  # "owner" | "reader" | "anonymous"
    name: str = ""

    @property
    def is_owner(self) -> bool:
        return self.kind == "owner"


OWNER = Caller("owner", OWNER_ID)
ANONYMOUS = Caller("anonymous")


class ReaderKeys:
    """The readers of a keys file, re-read whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple | None = None
        self._by_access: dict[str, tuple[str, str]] = {}  # access key -> (name, secret)

    def find(self, access_key: str) -> tuple[str, str] | None:
        """(name, secret) of the reader with this access key."""
        return self._current().get(access_key)

    def names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self._current().values())

    def _current(self) -> dict[str, tuple[str, str]]:
        try:
            st = self.path.stat()
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            seen = None
        with self._lock:
            if seen != self._seen:
                readers = _read(self.path).get("readers", {}) if seen else {}
                self._by_access = {r["access_key"]: (name, r["secret_key"]) for name, r in readers.items()}
                self._seen = seen
            return self._by_access


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str
    readers: ReaderKeys | None = field(default=None, compare=False, repr=False)

    def secret_for(self, access_key: str) -> str | None:
        if secrets.compare_digest(access_key, self.access_key):
            return self.secret_key
        found = self.readers.find(access_key) if self.readers else None
        return found[1] if found else None

    def reader_names(self) -> frozenset[str]:
        return self.readers.names() if self.readers else frozenset()

    def caller(self, access_key: str) -> Caller | None:
        """The principal an access key belongs to (None: not one of this gateway's)."""
        if secrets.compare_digest(access_key, self.access_key):
            return OWNER
        found = self.readers.find(access_key) if self.readers else None
        return Caller("reader", found[0]) if found else None


def load_keys(home: Path, environ: dict[str, str] | None = None) -> Keys:
    env = os.environ if environ is None else environ
    path = Path(home) / KEYS_FILE
    access, secret = env.get(ACCESS_ENV), env.get(SECRET_ENV)
    if access and secret:
        return Keys(access, secret, ReaderKeys(path))
    if access or secret:
        raise ValueError(f"set both {ACCESS_ENV} and {SECRET_ENV}, or neither (keys are then generated)")
    data = _read(path)
    if "access_key" not in data:
        with _locked(path):
            data = _read(path)
            if "access_key" not in data:  # another process may have made them meanwhile
                data.update(access_key=_new_access_key(), secret_key=secrets.token_urlsafe(30))
                _write(path, data)
    return Keys(data["access_key"], data["secret_key"], ReaderKeys(path))


def add_reader(home: Path, name: str) -> tuple[str, str]:
    """A new read-only key pair named `name`: (access key, secret key)."""
    if not READER_NAME.match(name) or name == OWNER_ID:
        raise UsageError(f"reader name {name!r}: use 1-63 lower-case letters, digits, '.', '_' or '-' "
                         f"(not {OWNER_ID!r})")
    path = Path(home) / KEYS_FILE
    with _locked(path):
        data = _read(path)
        readers = data.setdefault("readers", {})
        if name in readers:
            raise UsageError(f"reader {name!r} exists: `pachmedia s3 keys --reader {name}` shows its keys, "
                             f"`--remove-reader {name}` revokes them")
        taken = {data.get("access_key")} | {r["access_key"] for r in readers.values()}
        access = _new_access_key()
        while access in taken:
            access = _new_access_key()
        readers[name] = {"access_key": access, "secret_key": secrets.token_urlsafe(30)}
        _write(path, data)
    return access, readers[name]["secret_key"]


def remove_reader(home: Path, name: str) -> None:
    path = Path(home) / KEYS_FILE
    with _locked(path):
        data = _read(path)
        if name not in data.get("readers", {}):
            raise UsageError(f"no reader {name!r} (`pachmedia s3 keys` lists them)")
        del data["readers"][name]
        _write(path, data)


def readers(home: Path) -> dict[str, tuple[str, str]]:
    """name -> (access key, secret key), sorted by name."""
    found = _read(Path(home) / KEYS_FILE).get("readers", {})
    return {n: (r["access_key"], r["secret_key"]) for n, r in sorted(found.items())}


def _new_access_key() -> str:
    return secrets.token_hex(10).upper()


def _read(path: Path) -> dict:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        raise UsageError(f"{path} is not valid JSON: fix or remove it (its keys are then made anew)") from None
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    # Created 0600 from the start: a secret is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path):
    """One writer of the keys file at a time, across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
