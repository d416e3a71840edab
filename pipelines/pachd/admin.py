"""Version, health and cluster identity: what every pachctl command asks first
(InspectCluster) and what `pachctl version` and health checks read."""
from __future__ import annotations

import importlib.metadata
import platform
import uuid
from pathlib import Path

import grpc
from pachyderm_sdk.api import admin, version

from pipelines.pachd.status import PROJECT

SDK = "pachyderm-sdk"


def api_version() -> version.Version:
    """The API version we serve: that of the protos pachyderm-sdk ships (2.12.x), so
    pachctl's and the SDK's version checks see the release whose API this is."""
    major, minor, micro = (int(x) for x in importlib.metadata.version(SDK).split(".")[:3])
    return version.Version(major=major, minor=minor, micro=micro, platform=f"pachmedia/{platform.machine()}")


def cluster_id(home: Path) -> str:
    """One id per engine home, kept across restarts (pachctl remembers it per context)."""
    f = Path(home) / "pachd" / "cluster_id"
    if not f.is_file():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(uuid.uuid4().hex + "\n")
    return f.read_text().strip()


# grpc.health.v1.Health/Check: an empty request (or a service name), HealthCheckResponse{status: SERVING}.
# pachd registers the standard health service; its two messages are small enough to write by hand.
_SERVING = bytes([0x08, 0x01])  # field 1 (status), varint 1 = SERVING


def _health_check(request: bytes, context) -> bytes:
    return _SERVING


class Version:
    SERVICE = "versionpb_v2.API"

    def GetVersion(self, request, context) -> version.Version:
        return api_version()


class Cluster:
    """InspectCluster (every pachctl command asks it first) and the health check."""
    SERVICE = "admin_v2.API"
    EXTRA_HANDLERS = {"/grpc.health.v1.Health/Check": grpc.unary_unary_rpc_method_handler(_health_check)}

    def __init__(self, home: Path) -> None:
        self.id = cluster_id(home)

    def InspectCluster(self, request: admin.InspectClusterRequest, context) -> admin.ClusterInfo:
        warnings = []
        project = request.current_project.name if request.current_project else ""
        if project and project != PROJECT:
            warnings.append(f'project "{project}" not found: pachmedia\'s local pachd has only the project {PROJECT}')
        return admin.ClusterInfo(id=self.id, deployment_id=self.id, warnings_ok=True, warnings=warnings)
