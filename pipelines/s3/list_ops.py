"""Listing operations of the controller (a mixin of `Gateway`): ListBuckets, ListObjects v1
and v2, ListObjectVersions. Paging itself is pure, in `listing.py`."""
from __future__ import annotations

from pipelines.s3 import xml
from pipelines.s3.buckets import bucket_name
from pipelines.s3.listing import decode_token, encode_token, list_page, parse_max_keys
from pipelines.s3.messages import Request, Response


class ListOps:
    def list_buckets(self, req: "Request") -> "Response":
        names = sorted((bucket_name(r.project, r.repo, b), r.created)
                       for r in self.backend.list_repos() for b in r.branches)
        if not req.caller.is_owner:  # a reader sees the buckets it may read
            names = [n for n in names if self.access.allows(n[0], req.caller, "s3:ListBucket", ip=req.client_ip)]
        after = decode_token(req.query["continuation-token"]) if req.query.get("continuation-token") else ""
        names = [n for n in names if n[0] > after]
        limit = parse_max_keys(req.query.get("max-buckets"), "max-buckets", 10000) if "max-buckets" in req.query \
            else len(names)
        page, more = names[:limit], len(names) > limit
        token = encode_token(page[-1][0]) if more and page else None
        return Response.xml(xml.list_buckets(page, token))

    def list_objects(self, req: "Request") -> "Response":
        q = req.query
        v2 = q.get("list-type") == "2"
        _, ref = self._read_ref(req.bucket)
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        max_keys = parse_max_keys(q.get("max-keys"))
        token = q.get("continuation-token") if v2 else None
        start_after = q.get("start-after", "") if v2 else ""
        marker = decode_token(token) if token else (start_after if v2 else q.get("marker", ""))
        page = list_page(self.backend.list_objects(ref, prefix, marker), prefix=prefix, delimiter=delimiter,
                         marker=marker, max_keys=max_keys)
        next_token = encode_token(page.last) if v2 and page.truncated and page.last is not None else None
        body = xml.list_objects(req.bucket, page, v2=v2, prefix=prefix, delimiter=delimiter, max_keys=max_keys,
                                url_encode=q.get("encoding-type") == "url", marker=marker if not v2 else "",
                                token=token, next_token=next_token, start_after=start_after or None)
        return Response.xml(body)

    def list_versions(self, req: "Request") -> "Response":
        """No history is offered as S3 versions: each file's one version is the commit read."""
        _, ref = self._read_ref(req.bucket)
        prefix = req.query.get("prefix", "")
        max_keys = parse_max_keys(req.query.get("max-keys"))
        page = list_page(self.backend.list_objects(ref, prefix, req.query.get("key-marker", "")), prefix=prefix,
                         delimiter=req.query.get("delimiter", ""), marker="", max_keys=max_keys)
        return Response.xml(xml.list_versions(req.bucket, page, ref.id or "null", prefix, max_keys))
