"""S3 errors: one type, one named constructor per S3 error code used here.

The server turns an `S3Error` into S3's XML body
`<Error><Code/><Message/><Resource/><RequestId/></Error>` with its HTTP status.
Storage exceptions are mapped to these codes in one place: `controller.storage_error`.
"""
from __future__ import annotations


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str, resource: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.resource = resource


def access_denied(message: str = "Access Denied") -> S3Error:
    return S3Error(403, "AccessDenied", message)


def signature_does_not_match(message: str = "The request signature we calculated does not match the signature you provided. Check your key and signing method.") -> S3Error:
    return S3Error(403, "SignatureDoesNotMatch", message)


def invalid_access_key_id() -> S3Error:
    return S3Error(403, "InvalidAccessKeyId", "The AWS access key Id you provided does not exist in our records.")


def request_time_too_skewed() -> S3Error:
    return S3Error(403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large.")


def expired_presigned() -> S3Error:
    return S3Error(403, "AccessDenied", "Request has expired")


def authorization_header_malformed(message: str) -> S3Error:
    return S3Error(400, "AuthorizationHeaderMalformed", message)


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error(404, "NoSuchBucket", f"The specified bucket does not exist: {bucket}", bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error(404, "NoSuchKey", f"The specified key does not exist: {key}", key)


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(404, "NoSuchUpload", "The specified multipart upload does not exist.", upload_id)


def invalid_bucket_name(bucket: str, why: str) -> S3Error:
    return S3Error(400, "InvalidBucketName", f"invalid bucket name {bucket!r}: {why}", bucket)


def invalid_argument(message: str, resource: str = "") -> S3Error:
    return S3Error(400, "InvalidArgument", message, resource)


def invalid_request(message: str, resource: str = "") -> S3Error:
    return S3Error(400, "InvalidRequest", message, resource)


def write_to_output_branch(bucket: str) -> S3Error:
    # pachd's own code and status for a write to a pipeline's output branch.
    return S3Error(400, "WriteToOutputBranch", f"You cannot write to an output branch ({bucket} is a pipeline's output)", bucket)


def invalid_range(size: int) -> S3Error:
    return S3Error(416, "InvalidRange", f"The requested range is not satisfiable (object size {size})")


def malformed_xml() -> S3Error:
    return S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")


def bad_digest() -> S3Error:
    return S3Error(400, "BadDigest", "The Content-MD5 or checksum you specified did not match what we received.")


def invalid_digest() -> S3Error:
    return S3Error(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")


def x_amz_content_sha256_mismatch() -> S3Error:
    return S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")


def incomplete_body() -> S3Error:
    return S3Error(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")


def missing_content_length() -> S3Error:
    return S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")


def invalid_part(message: str = "One or more of the specified parts could not be found.") -> S3Error:
    return S3Error(400, "InvalidPart", message)


def invalid_part_order() -> S3Error:
    return S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order.")


def entity_too_large(why: str) -> S3Error:
    return S3Error(400, "EntityTooLarge", f"Your proposed upload exceeds the maximum allowed object size: {why}")


def entity_too_small() -> S3Error:
    return S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")


def not_implemented(what: str = "A header or operation you provided implies functionality that is not implemented") -> S3Error:
    return S3Error(501, "NotImplemented", what)


def method_not_allowed(method: str) -> S3Error:
    return S3Error(405, "MethodNotAllowed", f"The specified method {method} is not allowed against this resource.")


def commit_is_immutable(bucket: str) -> S3Error:
    return S3Error(400, "InvalidRequest", f"{bucket} names a commit; commits are immutable, write to the branch bucket instead", bucket)


def internal_error(message: str = "We encountered an internal error. Please try again.") -> S3Error:
    return S3Error(500, "InternalError", message)


def no_such_version(version: str) -> S3Error:
    return S3Error(404, "NoSuchVersion", f"The specified version (commit) does not exist: {version}", version)


def precondition_failed() -> S3Error:
    return S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")


def bucket_already_owned_by_you(bucket: str) -> S3Error:
    return S3Error(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded "
                   "and you already own it.", bucket)


def bucket_not_empty(bucket: str, why: str = "") -> S3Error:
    return S3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty" + (f" ({why})" if why else ""),
                   bucket)


def request_timeout() -> S3Error:
    return S3Error(400, "RequestTimeout", "Your socket connection to the server was not read from or written to "
                   "within the timeout period.")


def copy_to_itself() -> S3Error:
    return S3Error(400, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to "
                   "itself without changing the object's metadata, storage class, website redirect location or "
                   "encryption attributes.")


def unsigned_header(name: str) -> S3Error:
    return S3Error(403, "AccessDenied", f"There were headers present in the request which were not signed: {name} "
                   "(every x-amz-* header must be signed)")
