"""pachmedia stages: each module is one pipeline's program (`python -m stages.<name>`).

A stage reads its inputs from paths given as arguments (falling back to the
environment variables Pachyderm sets per input) and writes under `--out`; its core
is a pure function that tests call without /pfs, clamd or a job.
"""
