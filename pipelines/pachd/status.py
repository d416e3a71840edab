"""Errors as pachd answers them: the gRPC status code and message text its own error
types carry (src/server/pfs/pfs.go, src/server/pps/pps.go, pfs/pps api servers), so a
client that branches on NOT_FOUND or matches pachd's "repo x not found" does the same here.
pachd answers a plain Go error (one with no GRPCStatus) with UNKNOWN; so do we."""
from __future__ import annotations

import grpc

from pipelines.errors import InvalidName, NotFound, PachmediaError, SpecError, UsageError

PROJECT = "default"


class PachdError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unknown(message: str) -> PachdError:
    return PachdError(grpc.StatusCode.UNKNOWN, message)


def unimplemented(method: str, why: str = "") -> PachdError:
    return PachdError(grpc.StatusCode.UNIMPLEMENTED,
                      f"{method} is not implemented by pachmedia's local pachd" + (f": {why}" if why else ""))


# -- names as pachd prints them (pfs.Repo.String() etc.) ----------------------------------
def repo_str(repo: str) -> str:
    return f"{PROJECT}/{repo}"


def commit_str(repo: str, id: str) -> str:
    return f"{repo_str(repo)}@{id}"


def pipeline_str(name: str) -> str:
    return f"{PROJECT}/{name}"


# -- pfs ------------------------------------------------------------------------------------
def project_not_found(name: str) -> PachdError:
    return PachdError(grpc.StatusCode.NOT_FOUND, f'project "{name}" not found')


def project_exists(name: str) -> PachdError:
    return PachdError(grpc.StatusCode.ALREADY_EXISTS, f"project {name} already exists")


def repo_not_found(repo: str) -> PachdError:
    return PachdError(grpc.StatusCode.NOT_FOUND, f"repo {repo_str(repo)} not found")


def repo_exists(repo: str) -> PachdError:
    return PachdError(grpc.StatusCode.ALREADY_EXISTS, f"repo {repo_str(repo)} already exists")


def branch_not_found(repo: str, branch: str) -> PachdError:
    return PachdError(grpc.StatusCode.NOT_FOUND, f'branch "{branch}" not found in repo {repo_str(repo)}')


def commit_not_found(repo: str, ref: str) -> PachdError:
    return PachdError(grpc.StatusCode.NOT_FOUND, f"commit {commit_str(repo, ref)} not found")


def commit_set_not_found(id: str) -> PachdError:
    return PachdError(grpc.StatusCode.NOT_FOUND, f"no commits found for commitset {id}")


def commit_finished(repo: str, id: str) -> PachdError:
    return unknown(f"commit {commit_str(repo, id)} has already finished")


def file_not_found(repo: str, id: str, path: str) -> PachdError:
    return PachdError(grpc.StatusCode.NOT_FOUND, f"file {path} not found in repo {repo_str(repo)} at commit {id}")


def commit_on_output_branch(repo: str, branch: str) -> PachdError:
    return unknown(f"cannot start a commit on an output branch: {repo_str(repo)}@{branch}")


# -- pps ------------------------------------------------------------------------------------
def pipeline_not_found(name: str) -> PachdError:
    return PachdError(grpc.StatusCode.NOT_FOUND, f'pipeline "{pipeline_str(name)}" not found')


def pipeline_exists(name: str) -> PachdError:
    return PachdError(grpc.StatusCode.ALREADY_EXISTS, f'pipeline "{pipeline_str(name)}" already exists')


def job_not_found(pipeline: str, id: str) -> PachdError:
    return PachdError(grpc.StatusCode.NOT_FOUND, f"job {pipeline_str(pipeline)}@{id} not found")


def datum_not_found(pipeline: str, job: str, id: str) -> PachdError:
    return unknown(f"datum {id} not found in job {pipeline_str(pipeline)}@{job}")


# -- the engine's own errors, where a service did not name the thing itself ---------------------
def from_engine(e: PachmediaError) -> PachdError:
    if isinstance(e, NotFound):
        return PachdError(grpc.StatusCode.NOT_FOUND, str(e))
    if isinstance(e, (UsageError, InvalidName, SpecError)):
        return unknown(str(e))
    return unknown(str(e))
