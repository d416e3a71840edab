"""The project's own small ClamAV signature DB, for tests and the demo (no internet
here, so no official DB; production points clamd at a freshclam'd one).

- `pachmedia.ndb`: the EICAR test string as a body signature;
- `pachmedia.hsb`: sha256 hashes of clam.exe and of every file in Debian's
  clamav-testfiles (ClamAV unpacks the archives and packers and finds clam.exe inside).
Generated into a folder, never committed.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

TESTFILES = Path("/usr/share/clamav-testfiles")
# EICAR, split so no scanner flags this source file itself.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def build_signature_db(dest: Path, testfiles: Path = TESTFILES) -> Path:
    """Write the DB into dest (idempotent); returns dest."""
    dest.mkdir(parents=True, exist_ok=True)
    ndb = f"Pachmedia.Test.EICAR:0:*:{EICAR.hex()}\n"
    hsb = []
    if testfiles.is_dir():
        for p in sorted(testfiles.iterdir()):
            if p.is_file():
                data = p.read_bytes()
                hsb.append(f"{hashlib.sha256(data).hexdigest()}:{len(data)}:Pachmedia.Test.{p.name}\n")
    _write(dest / "pachmedia.ndb", ndb)
    if hsb:
        _write(dest / "pachmedia.hsb", "".join(hsb))
    return dest


def _write(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
