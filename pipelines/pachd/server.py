"""The gRPC server: Pachyderm's API paths, decoded and encoded with pachyderm-sdk's own
message classes, dispatched to the service objects that implement them.

A service object implements a method by having an attribute of the method's name
(`InspectRepo(request, context)`); unary responses are returned, streamed ones yielded.
A method no service implements, or one the SDK does not know, answers UNIMPLEMENTED
naming the method. Errors: `PachdError` carries pachd's code and message; the engine's
own errors are mapped once here (status.from_engine); anything else is UNKNOWN with
its text, as a Go error pachd did not type would be.
"""
from __future__ import annotations

import logging
from concurrent import futures
from typing import Callable, Iterable

import grpc

from pipelines.errors import PachmediaError
from pipelines.pachd.methods import Method, methods
from pipelines.pachd.status import PachdError, from_engine, unimplemented

log = logging.getLogger(__name__)
MAX_MESSAGE = 20 * 1024 * 1024 + 64 * 1024  # pachd's MaxMsgSize (20 MB); the SDK puts in 19 MB pieces
WORKERS = 64  # every wait, subscribe and log follow holds one for its whole life


def _abort(context: grpc.ServicerContext, err: Exception, method: str):
    if isinstance(err, PachdError):
        context.abort(err.code, err.message)
    if isinstance(err, PachmediaError):
        e = from_engine(err)
        context.abort(e.code, e.message)
    log.exception("%s failed", method)
    context.abort(grpc.StatusCode.UNKNOWN, f"{method}: {type(err).__name__}: {err}")


def _wrap(m: Method, impl: Callable) -> grpc.RpcMethodHandler:
    if m.kind.endswith("_stream"):
        def behaviour(request, context):
            try:
                yield from impl(request, context)
            except Exception as e:  # noqa: BLE001 -- every error becomes a status, none kills the server
                _abort(context, e, m.path)
    else:
        def behaviour(request, context):
            try:
                return impl(request, context)
            except Exception as e:  # noqa: BLE001
                _abort(context, e, m.path)
    make = getattr(grpc, f"{m.kind}_rpc_method_handler")
    return make(behaviour, request_deserializer=m.request.FromString, response_serializer=bytes)


def _refuse(path: str, kind: str = "stream_stream") -> grpc.RpcMethodHandler:
    name = path.lstrip("/")

    def behaviour(request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, unimplemented(name).message)
    if kind.endswith("_stream"):
        def streaming(request, context):
            behaviour(request, context)
            yield from ()
        return getattr(grpc, f"{kind}_rpc_method_handler")(streaming)
    return getattr(grpc, f"{kind}_rpc_method_handler")(behaviour)


class _Dispatch(grpc.GenericRpcHandler):
    def __init__(self, services: Iterable[object]) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}
        self.implemented: list[str] = []
        services = list(services)
        for path, m in methods().items():
            impl = next((getattr(s, m.name) for s in services
                         if getattr(s, "SERVICE", None) == m.service and hasattr(s, m.name)), None)
            if impl is None:
                self.handlers[path] = _refuse(path, m.kind)
            else:
                self.handlers[path] = _wrap(m, impl)
                self.implemented.append(path)
        for s in services:  # services the SDK does not generate (grpc.health.v1)
            for path, handler in getattr(s, "EXTRA_HANDLERS", {}).items():
                self.handlers[path] = handler
                self.implemented.append(path)

    def service(self, details: grpc.HandlerCallDetails):
        return self.handlers.get(details.method) or _refuse(details.method)


class PachdServer:
    """`start()` listens (port 0 picks a free one, see `.port`); `stop()` refuses new calls,
    gives running ones `grace` seconds, then cancels them (waits and subscriptions end)."""

    def __init__(self, services: Iterable[object], host: str = "127.0.0.1", port: int = 30650) -> None:
        self.dispatch = _Dispatch(services)
        self.host = host
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="pachd"),
                                   handlers=[self.dispatch],
                                   options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                            ("grpc.max_send_message_length", MAX_MESSAGE),
                                            ("grpc.so_reuseport", 0)])
        try:
            bound = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError:
            bound = 0
        if not bound:
            raise OSError(f"cannot listen on {host}:{port} (in use? another pachd or `pachmedia serve`)")
        self.port = bound

    @property
    def address(self) -> str:
        return f"grpc://{self.host}:{self.port}"

    def start(self) -> "PachdServer":
        self._server.start()
        return self

    def stop(self, grace: float = 2.0) -> None:
        self._server.stop(grace).wait()
