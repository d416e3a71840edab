"""Shared fixtures: generated media, a real clamd, the S3 tests' module gateway (see tests/fixtures/)."""
pytest_plugins = ["tests.fixtures.media", "tests.fixtures.clamd", "tests.fixtures.s3"]
