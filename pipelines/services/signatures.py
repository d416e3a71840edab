"""The project's own small ClamAV signature DB, for tests and the demo (no internet
here, so no official DB; production points clamd at a freshclam'd one).

One unsigned database container, `daily.cud` (ClamAV loads .cud like a .cvd, without
the Talos signature), holding:
- `daily.ndb`: the EICAR test string as a body signature;
- `daily.hsb`: sha256 hashes of clam.exe and of every file in Debian's
  clamav-testfiles (ClamAV unpacks the archives and packers and finds clam.exe inside);
- `daily.info`: the container's header and each file's size and sha256.
Because it is a *daily* container, clamd reports its version and build time (VERSION:
"ClamAV 1.4.6/<version>/<date>"), so every verdict names the DB that made it. The version
is derived from the signatures (same signatures, same version), the date is when that
version was first built. Generated into a folder, never committed.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
import time
from pathlib import Path

TESTFILES = Path("/usr/share/clamav-testfiles")
# EICAR, split so no scanner flags this source file itself.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
DB_FILE = "daily.cud"
BUILDER = "pachmedia"
FUNCTIONALITY_LEVEL = 90  # any ClamAV >= 0.99 reads ndb/hsb
_HEADER = re.compile(rb"^ClamAV-VDB:[^:]*:(\d+):(\d+):\d+:[^:]*:[^:]*:[^:]*:(\d+)")


def signatures(testfiles: Path = TESTFILES) -> dict[str, str]:
    """The signature files, by name inside the container."""
    files = {"daily.ndb": f"Pachmedia.Test.EICAR:0:*:{EICAR.hex()}\n"}
    hsb = []
    if testfiles.is_dir():
        for p in sorted(testfiles.iterdir()):
            if p.is_file():
                data = p.read_bytes()
                hsb.append(f"{hashlib.sha256(data).hexdigest()}:{len(data)}:Pachmedia.Test.{p.name}\n")
    if hsb:
        files["daily.hsb"] = "".join(hsb)
    return files


def db_version(files: dict[str, str]) -> int:
    """A version number that is a function of the signatures only."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{len(files[name])}\0".encode() + files[name].encode())
    return int(h.hexdigest()[:7], 16) or 1


def read_header(path: Path) -> dict[str, int] | None:
    """version, sigs and stime from a container's 512-byte header (None if not ours/readable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    m = _HEADER.match(head)
    return {"version": int(m.group(1)), "sigs": int(m.group(2)), "stime": int(m.group(3))} if m else None


def build_signature_db(dest: Path, testfiles: Path = TESTFILES, now: float | None = None) -> Path:
    """Write the DB into dest (idempotent: same signatures, file untouched); returns dest."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in ("pachmedia.ndb", "pachmedia.hsb"):  # the loose files older builds wrote
        (dest / old).unlink(missing_ok=True)
    files = signatures(testfiles)
    version = db_version(files)
    target = dest / DB_FILE
    have = read_header(target)
    if have and have["version"] == version:
        return dest
    stime = int(now if now is not None else time.time())
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(container(files, version, stime))
    tmp.replace(target)
    return dest


def container(files: dict[str, str], version: int, stime: int) -> bytes:
    """An unsigned ClamAV database container (.cud): a 512-byte header, then a tar.gz."""
    sigs = sum(len(text.splitlines()) for text in files.values())
    stamp = time.strftime("%d %b %Y %H-%M +0000", time.gmtime(stime))
    head = f"ClamAV-VDB:{stamp}:{version}:{sigs}:{FUNCTIONALITY_LEVEL}"
    info = f"{head}:unsigned:unsigned:{BUILDER}:{stime}\n" + "".join(
        f"{name}:{len(text.encode())}:{hashlib.sha256(text.encode()).hexdigest()}\n"
        for name, text in sorted(files.items()))
    members = {"daily.info": info, **files}
    raw = io.BytesIO()
    # ustar: ClamAV's loader knows only plain file entries (no pax headers, no folders)
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, text in members.items():
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), stime, 0o644
            tar.addfile(ti, io.BytesIO(data))
    body = gzip.compress(raw.getvalue(), mtime=stime)
    md5 = hashlib.md5(body).hexdigest()
    header = f"{head}:{md5}:unsigned:{BUILDER}:{stime}".encode()
    assert len(header) <= 512
    return header.ljust(512, b" ") + body
