"""Pachyderm's gRPC methods as pachyderm-sdk 2.12 generates them: for each method its path
(`/pfs_v2.API/InspectRepo`), its kind (unary or streaming on each side) and the message
classes of its request and response. Read from the SDK's generated stubs, so the server
(de)serializes with the very classes the SDK's clients use and tracks the SDK, not a hand
list."""
from __future__ import annotations

import functools
import importlib
import inspect
import re
from dataclasses import dataclass

# pachd's services, by the SDK module whose generated ApiStub declares them
SERVICES = ("pfs", "pps", "version", "admin", "transaction", "auth", "enterprise", "license", "identity",
            "debug", "metadata", "logs", "storage", "pjs", "snapshot")

_CALL = re.compile(r'channel\.(unary_unary|unary_stream|stream_unary|stream_stream)\(\s*"(/[^"]+)",\s*'
                   r'request_serializer=([\w.]+)\.SerializeToString,\s*'
                   r'response_deserializer=([\w.]+)\.FromString')


@dataclass(frozen=True)
class Method:
    path: str            # /pfs_v2.API/InspectRepo
    kind: str            # unary_unary | unary_stream | stream_unary | stream_stream
    request: type
    response: type

    @property
    def service(self) -> str:
        return self.path.split("/")[1]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]


def _resolve(module, dotted: str) -> type:
    obj = module
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@functools.cache
def methods() -> dict[str, Method]:
    """Every method pachyderm-sdk knows, by path."""
    out: dict[str, Method] = {}
    for name in SERVICES:
        module = importlib.import_module(f"pachyderm_sdk.api.{name}")
        stub = getattr(module, "ApiStub", None)
        if stub is None:
            continue
        for kind, path, req, resp in _CALL.findall(inspect.getsource(stub.__init__)):
            out[path] = Method(path, kind, _resolve(module, req), _resolve(module, resp))
    return out
