"""Bucket names as pachd's gateway reads them: `[commit.]branch.repo[.project]`.

Worked examples (pachd's `bucketNameToCommit`; see tests/test_s3_buckets.py):
- `media`                       -> master of media in project `default`
- `dev.media`                   -> branch dev of media, default project (two parts are
                                   ALWAYS branch.repo)
- `master.media.video`          -> master of media in project `video`
- `<32 hex>.master.media`       -> that commit of media (reads only)
A leading component is a commit only when it is a dashless UUID (32 hex digits).
ListBuckets names every branch in full, `branch.repo.project`, as pachd does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PROJECT = "default"
DEFAULT_BRANCH = "master"
_COMMIT_ID = re.compile(r"^[0-9a-f]{32}$")
_PART = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")


class BucketNameError(ValueError):
    """A bucket name that does not parse; the message says why."""


@dataclass(frozen=True)
class Bucket:
    project: str
    repo: str
    branch: str
    commit: str | None = None

    @property
    def name(self) -> str:
        """The full name ListBuckets shows (plus the commit when pinned)."""
        base = f"{self.branch}.{self.repo}.{self.project}"
        return f"{self.commit}.{base}" if self.commit else base


def parse_bucket(name: str) -> Bucket:
    parts = name.split(".")
    commit = None
    if parts and _COMMIT_ID.match(parts[0]):
        commit, parts = parts[0], parts[1:]
    if len(parts) == 1:
        project, repo, branch = DEFAULT_PROJECT, parts[0], DEFAULT_BRANCH
    elif len(parts) == 2:
        project, repo, branch = DEFAULT_PROJECT, parts[1], parts[0]
    elif len(parts) == 3:
        branch, repo, project = parts
    else:
        raise BucketNameError(f"invalid bucket name {name!r}: use [commit.]branch.repo[.project]")
    for label, value in (("repo", repo), ("branch", branch), ("project", project)):
        if not _PART.match(value):
            raise BucketNameError(
                f"invalid bucket name {name!r}: {label} {value!r} must be 1-63 letters, digits, '_' or '-'")
    return Bucket(project=project, repo=repo, branch=branch, commit=commit)


def bucket_name(project: str, repo: str, branch: str) -> str:
    return Bucket(project, repo, branch).name
