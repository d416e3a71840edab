"""Loaded (PYTHONPATH) only into the suite's boto2 SigV4 run: boto 2.49 finds the SigV4
region in an AWS host name (s3-<region>.amazonaws.com) and fails on 127.0.0.1
(UnboundLocalError). Anything it cannot read is us-east-1, the gateway's one region."""
try:
    import boto.auth

    _determine = boto.auth.S3HmacAuthV4Handler.determine_region_name

    def determine_region_name(self, host):
        try:
            return _determine(self, host)
        except UnboundLocalError:
            return "us-east-1"

    boto.auth.S3HmacAuthV4Handler.determine_region_name = determine_region_name
except ImportError:  # not the boto2 venv
    pass

try:
    import boto.auth

    _s3_host_header = boto.auth.S3HmacAuthV4Handler.host_header

    def host_header(self, host, http_request):
        # boto 2.49 appends the port to a host that has it already (Host: 127.0.0.1:P:P)
        if ":" in http_request.host and not http_request.host.endswith("]"):
            return http_request.host
        return _s3_host_header(self, host, http_request)

    boto.auth.S3HmacAuthV4Handler.host_header = host_header
except ImportError:
    pass
