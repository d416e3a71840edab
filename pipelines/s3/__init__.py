"""S3 gateway over the versioned store: protocol here, storage behind `S3Backend`.

Modules: buckets (names), auth (SigV4) and sigv2, payload (bodies, aws-chunked), listing (paging),
xml, metadata (kept per file: headers, storage class, ACL), multipart (parts), controller (operations)
with list_ops, multipart_ops and access_ops, keys (owner and readers), access (who may read what) and
policy (bucket policies), server (HTTP: uvicorn/h11), backend (interface + memory).
"""
from pipelines.s3.backend import (BucketNotFound, CommitNotFound, CommitRef, InvalidKey, MemoryBackend, ObjectInfo,
                      ReadOnlyRepo, RepoRef, S3Backend)
from pipelines.s3.buckets import Bucket, parse_bucket
from pipelines.s3.keys import Keys, load_keys
from pipelines.s3.server import S3Server, serve

__all__ = ["Bucket", "BucketNotFound", "CommitNotFound", "CommitRef", "InvalidKey", "Keys", "MemoryBackend",
           "ObjectInfo", "ReadOnlyRepo", "RepoRef", "S3Backend", "S3Server", "load_keys", "parse_bucket", "serve"]
