"""pachmedia's engine side: specs, datums, the embedded store and jobs, the S3
gateway, cluster deploy and the `pachmedia` CLI."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = PROJECT_ROOT / "specs"
