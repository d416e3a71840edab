"""The controller's request and response: what server.py builds from HTTP and writes back."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from pipelines.s3 import errors, xml
from pipelines.s3.keys import OWNER, Caller


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: BinaryIO
    bucket: str | None
    key: str | None
    caller: Caller = OWNER  # who signed it (set by Gateway.handle)
    client_ip: str = ""  # the peer's address (bucket policies' aws:SourceIp)


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: BinaryIO | None = None  # when set, `length` bytes of it follow the headers
    length: int | None = None

    @staticmethod
    def xml(body: bytes, status: int = 200) -> "Response":
        return Response(status, {"Content-Type": "application/xml"}, body)



def error_response(e: errors.S3Error, request_id: str) -> Response:
    return Response.xml(xml.error(e, request_id), e.status)

