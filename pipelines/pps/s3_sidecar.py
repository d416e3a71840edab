"""The S3 gateway a datum of a pipeline with `s3` inputs or `s3Out` reaches at S3_ENDPOINT, as
pachd's worker sidecar (src/server/pps/server/s3g_sidecar.go) serves one per job.

Here each try gets its own: the controller with pachd's worker rules (`s3/worker.py`) over
the job's commits and the try's output folder (`pfs/s3_worker.py`), on a Unix socket in the
try's folder, never on a TCP port. Its keys are made for the try and given to the datum as
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, one random token as both (what pachd gives a
pipeline's code when auth is on: its pipeline token). The datum's sandbox has no network; the
socket is bound into it and `s3relay.py`, started in front of the datum's command, listens on
127.0.0.1 inside the sandbox and carries each connection to the socket.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.httpd import listen_unix
from pipelines.pfs.s3_worker import WorkerBackend
from pipelines.s3.keys import Keys
from pipelines.s3.multipart import Uploads
from pipelines.s3.server import S3App, S3Server
from pipelines.s3.worker import WorkerGateway

if TYPE_CHECKING:
    from pipelines.pfs.store import Store

SOCKET = "gateway.sock"
RELAY = Path(__file__).with_name("s3relay.py")


@dataclass(frozen=True)
class S3Job:
    """What a job's datums reach over S3: each `s3` input as (bucket = input name, repo, the
    commit the job reads), and `out` when the pipeline has s3Out."""
    store: "Store"
    inputs: tuple[tuple[str, str, str], ...]
    out: bool

    def serve(self, folder: Path, out_dir: Path, file_size: int) -> "Sidecar":
        """Start a try's gateway in `folder` (the socket and multipart parts; never bound into
        the sandbox but the socket itself); `out` writes into out_dir."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        token = secrets.token_hex(20)
        backend = WorkerBackend(self.store, {name: (repo, commit) for name, repo, commit in self.inputs},
                                out_dir if self.out else None, file_size)
        gateway = WorkerGateway(backend, Keys(token, token), tuple(name for name, _, _ in self.inputs), self.out,
                                Uploads(folder / "parts"), file_size)
        server = S3Server(S3App(gateway, None, frozenset()), listen_unix(folder / SOCKET)).start()
        return Sidecar(server, folder / SOCKET, token)


class Sidecar:
    """A try's running gateway: where it listens, the datum's credentials, stop()."""

    def __init__(self, server: S3Server, socket: Path, token: str) -> None:
        self.server, self.socket, self.token = server, socket, token

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.token, "AWS_SECRET_ACCESS_KEY": self.token}

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> "Sidecar":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def s3_job(store: "Store", spec: dict, inputs) -> S3Job | None:
    """The S3 view of a datum's inputs (DatumInputs) under a spec; None when the pipeline has
    neither `s3` inputs nor s3Out. Inputs are named once (a cross repeats none)."""
    s3 = {}
    for i in inputs:
        if i.s3:
            s3.setdefault(i.name, (i.name, i.repo, i.commit))
    if not s3 and not spec.get("s3Out"):
        return None
    return S3Job(store, tuple(s3.values()), bool(spec.get("s3Out")))
