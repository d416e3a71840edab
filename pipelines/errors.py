"""One error tree. The CLI prints `error: <message>` and exits with the class's code."""


class PachmediaError(Exception):
    exit_code = 1


class UsageError(PachmediaError):
    """Bad arguments or syntax (a repo@branch:/path that does not parse...)."""
    exit_code = 2


class NotFound(PachmediaError):
    """A repo, branch, commit, file, job, datum or pipeline that does not exist."""


class InvalidName(PachmediaError):
    """An unsafe or malformed name (repo, branch, file path)."""
    exit_code = 2


class SpecError(PachmediaError):
    """A pipeline spec that pachctl would refuse (the message names the key path)."""


class ServiceError(PachmediaError):
    """A managed service (clamd, pachd) is unreachable or failed to start."""


class JobFailed(PachmediaError):
    """A job had failed datums (`wait commit` exits with this)."""


class Interrupted(PachmediaError):
    """SIGINT/SIGTERM during a run: queued datums were cancelled, running ones killed,
    and the job left resumable (the next `run` picks it up)."""
    exit_code = 130


class StoreBusy(PachmediaError):
    """The object store changed under an operation (e.g. `fsck --gc` ran during a put)."""


class RunLocked(PachmediaError):
    """Another process holds this home's run lock (it is processing jobs)."""
