"""S3 gateway over the versioned store: protocol here, storage behind `S3Backend`.

Modules: buckets (names), auth (SigV4), payload (bodies, aws-chunked), listing (paging),
xml, multipart, gateway (operations), server (HTTP), keys, backend (interface + memory).
"""
from .backend import (BucketNotFound, CommitNotFound, CommitRef, InvalidKey, MemoryBackend, ObjectInfo,
                      ReadOnlyRepo, RepoRef, S3Backend)
from .buckets import Bucket, parse_bucket
from .keys import Keys, load_keys
from .server import S3Server, serve

__all__ = ["Bucket", "BucketNotFound", "CommitNotFound", "CommitRef", "InvalidKey", "Keys", "MemoryBackend",
           "ObjectInfo", "ReadOnlyRepo", "RepoRef", "S3Backend", "S3Server", "load_keys", "parse_bucket", "serve"]
