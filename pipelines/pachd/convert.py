"""Engine records to pachyderm-sdk messages, through the protojson shapes that `--raw`
prints (pipelines/protojson.py): one definition of each message's content for both."""
from __future__ import annotations

from typing import TypeVar

import betterproto

from pipelines import protojson

M = TypeVar("M", bound=betterproto.Message)


def message(cls: type[M], shape: dict) -> M:
    return cls().from_dict(shape)


def commit_info(e, c, with_size: bool = True):
    """pfs.CommitInfo of a store commit or an open (staged) one."""
    from pachyderm_sdk.api import pfs
    size = e.store.commit_size(c.repo, c.id) if with_size and c.finished is not None else None
    children = e.store.children(c.repo, c.id) if c.finished is not None else ()
    shape = protojson.commit_info(c, size, children)
    if c.finished is None and c.parent:
        shape["parentCommit"] = protojson.commit(c.repo, c.parent)
    return message(pfs.CommitInfo, shape)
