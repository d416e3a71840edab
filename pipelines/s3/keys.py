"""The gateway's access/secret key pair.

From `PACHMEDIA_S3_ACCESS_KEY` and `PACHMEDIA_S3_SECRET_KEY` when both are set;
otherwise generated once into `<home>/s3-keys.json` (mode 0600) and reused, so
`pachmedia` can show them and clients keep working across restarts.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ACCESS_ENV = "PACHMEDIA_S3_ACCESS_KEY"
SECRET_ENV = "PACHMEDIA_S3_SECRET_KEY"
KEYS_FILE = "s3-keys.json"


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str

    def secret_for(self, access_key: str) -> str | None:
        return self.secret_key if secrets.compare_digest(access_key, self.access_key) else None


def load_keys(home: Path, environ: dict[str, str] | None = None) -> Keys:
    env = os.environ if environ is None else environ
    access, secret = env.get(ACCESS_ENV), env.get(SECRET_ENV)
    if access and secret:
        return Keys(access, secret)
    if access or secret:
        raise ValueError(f"set both {ACCESS_ENV} and {SECRET_ENV}, or neither (keys are then generated)")
    path = Path(home) / KEYS_FILE
    if path.exists():
        data = json.loads(path.read_text())
        return Keys(data["access_key"], data["secret_key"])
    keys = Keys(secrets.token_hex(10).upper(), secrets.token_urlsafe(30))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{KEYS_FILE}.{os.getpid()}.tmp")
    # Create with 0600 from the start: the secret is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"access_key": keys.access_key, "secret_key": keys.secret_key}, f)
    try:
        os.link(tmp, path)  # fails if another process got there first: then use its keys
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return load_keys(home, env)
