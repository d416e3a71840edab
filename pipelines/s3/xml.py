"""S3's XML: response documents out, DeleteObjects / CompleteMultipartUpload bodies in."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _safe_fromstring
from urllib.parse import quote
from xml.sax.saxutils import escape

from pipelines.s3 import errors
from pipelines.s3.metadata import storage_class
from pipelines.s3.backend import ObjectInfo
from pipelines.s3.headers import iso_date
from pipelines.s3.listing import Page

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
OWNER = "<Owner><ID>pachmedia</ID><DisplayName>pachmedia</DisplayName></Owner>"


def _el(name: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def document(root: str, inner: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{inner}</{root}>').encode()


def error(err: errors.S3Error, request_id: str) -> bytes:
    inner = _el("Code", err.code) + _el("Message", err.message) + _el("Resource", err.resource) + \
        _el("RequestId", request_id)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


def list_buckets(buckets: list[tuple[str, datetime]], token: str | None = None) -> bytes:
    items = "".join(f"<Bucket>{_el('Name', n)}{_el('CreationDate', iso_date(t))}</Bucket>" for n, t in buckets)
    return document("ListAllMyBucketsResult", f"{OWNER}<Buckets>{items}</Buckets>{_el('ContinuationToken', token)}")


def quote_etag(sha: str) -> str:
    return f'"{sha}"'


def _contents(obj: ObjectInfo, enc) -> str:
    return ("<Contents>" + _el("Key", enc(obj.key)) + _el("LastModified", iso_date(obj.last_modified)) +
            _el("ETag", quote_etag(obj.etag)) + _el("Size", obj.size) + _el("StorageClass", storage_class(obj.meta)) +
            OWNER + "</Contents>")


def list_objects(bucket: str, page: Page, *, v2: bool, prefix: str, delimiter: str, max_keys: int,
                 url_encode: bool, marker: str = "", token: str | None = None,
                 next_token: str | None = None, start_after: str | None = None) -> bytes:
    enc = (lambda s: quote(s, safe="/")) if url_encode else (lambda s: s)
    # v1 answers Prefix as given even with encoding-type=url (clients decode it only in v2)
    head = _el("Name", bucket) + _el("Prefix", enc(prefix) if v2 else prefix)
    if v2:
        head += _el("KeyCount", len(page.contents) + len(page.prefixes))
        head += _el("ContinuationToken", token) + _el("NextContinuationToken", next_token)
        head += _el("StartAfter", enc(start_after) if start_after else None)
    else:
        head += _el("Marker", enc(marker))
        # S3 gives NextMarker only with a delimiter; clients use the last key otherwise.
        if page.truncated and delimiter and page.last is not None:
            head += _el("NextMarker", enc(page.last))
    head += _el("MaxKeys", max_keys) + (_el("Delimiter", enc(delimiter)) if delimiter else "")
    head += _el("IsTruncated", page.truncated) + (_el("EncodingType", "url") if url_encode else "")
    body = "".join(_contents(o, enc) for o in page.contents)
    body += "".join(f"<CommonPrefixes>{_el('Prefix', enc(p))}</CommonPrefixes>" for p in page.prefixes)
    return document("ListBucketResult", head + body)


def location(region: str) -> bytes:
    return document("LocationConstraint", escape(region))  # the one region, said explicitly


def copy_result(root: str, etag: str, modified: datetime) -> bytes:
    """CopyObjectResult or CopyPartResult."""
    return document(root, _el("LastModified", iso_date(modified)) + _el("ETag", quote_etag(etag)))


def list_versions(bucket: str, page: Page, version: str, prefix: str, max_keys: int) -> bytes:
    inner = _el("Name", bucket) + _el("Prefix", prefix) + _el("MaxKeys", max_keys) + _el("IsTruncated", page.truncated)
    inner += "".join("<Version>" + _el("Key", o.key) + _el("VersionId", version) + _el("IsLatest", True) +
                     _el("LastModified", iso_date(o.last_modified)) + _el("ETag", quote_etag(o.etag)) +
                     _el("Size", o.size) + _el("StorageClass", storage_class(o.meta)) + OWNER + "</Version>"
                     for o in page.contents)
    inner += "".join(f"<CommonPrefixes>{_el('Prefix', p)}</CommonPrefixes>" for p in page.prefixes)
    return document("ListVersionsResult", inner)


def list_uploads(bucket: str, prefix: str, uploads: list[tuple[str, str, datetime, str]]) -> bytes:
    """uploads: (key, upload id, initiated, storage class)."""
    inner = _el("Bucket", bucket) + _el("Prefix", prefix) + _el("MaxUploads", 1000) + _el("IsTruncated", False)
    inner += "".join("<Upload>" + _el("Key", k) + _el("UploadId", i) + OWNER.replace("Owner", "Initiator") + OWNER +
                     _el("StorageClass", sc) + _el("Initiated", iso_date(t)) + "</Upload>"
                     for k, i, t, sc in uploads)
    return document("ListMultipartUploadsResult", inner)


def versioning() -> bytes:
    return document("VersioningConfiguration", _el("Status", "Enabled"))  # every write is a commit


def policy_status(public: bool) -> bytes:
    return document("PolicyStatus", _el("IsPublic", public))


def public_access_block(flags: dict[str, bool]) -> bytes:
    return document("PublicAccessBlockConfiguration", "".join(_el(f, v) for f, v in flags.items()))


XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
GROUPS = {"public-read": ALL_USERS, "authenticated-read": AUTHENTICATED_USERS}


def acl(canned: str) -> bytes:
    """The owner has everything; a canned ACL adds READ for everyone (public-read) or for
    every key of this gateway (authenticated-read)."""
    owner = (f'<Grant><Grantee {XSI} xsi:type="CanonicalUser"><ID>pachmedia</ID><DisplayName>pachmedia'
             '</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>')
    group = (f'<Grant><Grantee {XSI} xsi:type="Group"><URI>{GROUPS[canned]}</URI></Grantee>'
             '<Permission>READ</Permission></Grant>') if canned in GROUPS else ""
    return document("AccessControlPolicy", f"{OWNER}<AccessControlList>{owner}{group}</AccessControlList>")


def parse_acl(body: bytes) -> str:
    """An AccessControlPolicy this gateway can honour -> its canned ACL: public-read (everyone
    may read), authenticated-read (any key of this gateway may) or private."""
    root = _parse(body)
    lists = _children(root, "AccessControlList")
    if _local(root.tag) != "AccessControlPolicy" or not lists:
        raise errors.malformed_xml()
    groups = set()
    for grant in _children(lists[0], "Grant"):
        grantee = (_children(grant, "Grantee") or [None])[0]
        permission = (_text(grant, "Permission") or "").strip()
        if grantee is None:
            raise errors.malformed_xml()
        if _text(grantee, "EmailAddress") is not None:
            raise errors.S3Error(400, "UnresolvableGrantByEmailAddress", "The email address you provided does "
                                 "not match any account on record (the accounts here are key pairs, with no e-mail).")
        uri = (_text(grantee, "URI") or "").strip()
        if uri in GROUPS.values() and permission == "READ":
            groups.add(uri)
        elif (_text(grantee, "ID") or "").strip() not in ("pachmedia", "") or permission != "FULL_CONTROL":
            raise errors.not_implemented("only the owner's FULL_CONTROL and READ for AllUsers or AuthenticatedUsers "
                                         "can be granted here")
    return "public-read" if ALL_USERS in groups else ("authenticated-read" if groups else "private")


def parse_public_access_block(body: bytes) -> dict[str, bool]:
    root = _parse(body)
    if _local(root.tag) != "PublicAccessBlockConfiguration":
        raise errors.malformed_xml()
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    return {f: (_text(root, f) or "").strip().lower() == "true" for f in flags}


def initiate_upload(bucket: str, key: str, upload_id: str) -> bytes:
    return document("InitiateMultipartUploadResult", _el("Bucket", bucket) + _el("Key", key) + _el("UploadId", upload_id))


def complete_upload(location_url: str, bucket: str, key: str, etag: str) -> bytes:
    return document("CompleteMultipartUploadResult",
                    _el("Location", location_url) + _el("Bucket", bucket) + _el("Key", key) + _el("ETag", quote_etag(etag)))


def list_parts(bucket: str, key: str, upload_id: str, parts: list[tuple[int, int, str, datetime]],
               marker: int, max_parts: int, truncated: bool, storage: str) -> bytes:
    inner = _el("Bucket", bucket) + _el("Key", key) + _el("UploadId", upload_id) + \
        _el("PartNumberMarker", marker) + _el("MaxParts", max_parts) + _el("IsTruncated", truncated) + \
        (_el("NextPartNumberMarker", parts[-1][0]) if parts else "") + _el("StorageClass", storage)
    inner += "".join("<Part>" + _el("PartNumber", n) + _el("LastModified", iso_date(t)) + _el("ETag", quote_etag(e)) +
                     _el("Size", s) + "</Part>" for n, s, e, t in parts)
    return document("ListPartsResult", inner)


def delete_result(deleted: list[str], failed: list[tuple[str, errors.S3Error]], quiet: bool) -> bytes:
    inner = "" if quiet else "".join(f"<Deleted>{_el('Key', k)}</Deleted>" for k in deleted)
    inner += "".join(f"<Error>{_el('Key', k)}{_el('Code', e.code)}{_el('Message', e.message)}</Error>" for k, e in failed)
    return document("DeleteResult", inner)


# --- request bodies -----------------------------------------------------------------

def _parse(body: bytes) -> ET.Element:
    # defusedxml refuses any DTD at the parser (in every encoding: a UTF-16 DOCTYPE too)
    try:
        return _safe_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise errors.malformed_xml() from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _text(el: ET.Element, name: str) -> str | None:
    found = _children(el, name)
    return (found[0].text or "") if found else None


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """DeleteObjects body -> (keys, quiet)."""
    root = _parse(body)
    if _local(root.tag) != "Delete":
        raise errors.malformed_xml()
    keys = []
    for obj in _children(root, "Object"):
        key = _text(obj, "Key")
        if not key:
            raise errors.malformed_xml()
        keys.append(key)
    if not keys or len(keys) > 1000:
        raise errors.malformed_xml()
    return keys, (_text(root, "Quiet") or "").strip().lower() == "true"


def parse_versioning(body: bytes) -> str:
    root = _parse(body)
    if _local(root.tag) != "VersioningConfiguration":
        raise errors.malformed_xml()
    return (_text(root, "Status") or "").strip()


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """CompleteMultipartUpload body -> [(part number, etag without quotes)]."""
    root = _parse(body)
    if _local(root.tag) != "CompleteMultipartUpload":
        raise errors.malformed_xml()
    parts = []
    for p in _children(root, "Part"):
        try:
            n = int(_text(p, "PartNumber") or "")
        except ValueError:
            raise errors.malformed_xml() from None
        parts.append((n, (_text(p, "ETag") or "").strip().strip('"')))
    if not parts:
        raise errors.malformed_xml()
    return parts
