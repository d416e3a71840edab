"""Shared fixtures: generated media and a real clamd (see tests/fixtures/)."""
from tests.fixtures.media import *  # noqa: F401,F403
from tests.fixtures.clamd import *  # noqa: F401,F403
from tests.fixtures.s3 import gateway  # noqa: F401  (the S3 tests' module gateway)
