"""Waiting inside a call (wait commit, wait commit set, subscribe): poll the store until
the answer is there. The store is shared with other processes (the CLI, a `run`), so a
change is seen however it was made; the call ends when its client goes away or the
server stops."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

import grpc

from pipelines.pachd.status import PachdError

T = TypeVar("T")
POLL = 0.2  # seconds between looks: a job takes seconds, a look a few SQLite reads


def until(context: grpc.ServicerContext, look: Callable[[], T | None], poll: float = POLL) -> T:
    while True:
        found = look()
        if found is not None and found is not False:
            return found
        if not context.is_active():
            raise PachdError(grpc.StatusCode.CANCELLED, "the call ended while waiting")
        time.sleep(poll)


def alive(context: grpc.ServicerContext, poll: float = POLL) -> bool:
    """For subscriptions: sleep one poll, then say whether the client is still there."""
    time.sleep(poll)
    return context.is_active()
