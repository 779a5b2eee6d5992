"""FabricClient: one object per endpoint + credential, shared by all threads of a process."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from fabric_resources.client._auth import TokenProvider, token_object_id
from fabric_resources.client._lro import LroPoller, ProgressCallback
from fabric_resources.client._transport import RetryPolicy, Transport
from fabric_resources.client.capacities import Capacities
from fabric_resources.client.connections import Connections
from fabric_resources.client.folders import Folders
from fabric_resources.client.items import DataPipelines, Items
from fabric_resources.client.jobs import Jobs
from fabric_resources.client.operations import Operations
from fabric_resources.client.schedules import Schedules
from fabric_resources.client.tags import Tags
from fabric_resources.client.variable_libraries import VariableLibraries
from fabric_resources.client.workspaces import RoleAssignments, Workspaces
from fabric_resources.settings import FabricSettings

__all__ = ["FabricClient"]


class FabricClient:
    """The Fabric REST API.

    Thread-safe: one client serves every worker thread of a Pulumi provider (one connection
    pool, one token, one throttle gate). Use as a context manager or call ``close()``.

    ``max_attempts``/``timeout`` bound each HTTP call (attempts, seconds per attempt);
    ``call_deadline`` bounds a call with all its retries; ``lro_timeout``, ``job_timeout`` and
    ``capacity_timeout`` bound the waits. ``sleep``/``clock`` are injectable for tests.
    ``shared_throttle_gate=False`` makes each thread handle its own 429s (for comparison only).
    """

    def __init__(
        self,
        settings: FabricSettings | None = None,
        *,
        max_attempts: int = 8,
        timeout: float = 60.0,
        on_progress: ProgressCallback | None = None,
        call_deadline: float = 300.0,
        lro_timeout: float = 900.0,
        lro_max_interval: float = 30.0,
        job_timeout: float = 3600.0,
        capacity_timeout: float = 600.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        retry_after_cap: float = 60.0,
        shared_throttle_gate: bool = True,
        pool_size: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        token_provider: Any = None,
    ) -> None:
        self.settings = settings if settings is not None else FabricSettings.from_env()
        self.job_timeout = job_timeout
        self.capacity_timeout = capacity_timeout
        self.auth = token_provider if token_provider is not None else TokenProvider(self.settings, clock=clock)
        policy = RetryPolicy(max_attempts=max_attempts, backoff_base=backoff_base, backoff_cap=backoff_cap,
                             retry_after_cap=retry_after_cap, call_deadline=call_deadline)
        self.transport = Transport(
            self.settings.api_url, self.auth, ca_cert=self.settings.ca_cert, policy=policy, timeout=timeout,
            pool_size=pool_size, shared_throttle_gate=shared_throttle_gate, sleep=sleep, clock=clock, rng=rng,
        )
        self.lro = LroPoller(self.transport, timeout=lro_timeout, max_interval=lro_max_interval,
                             on_progress=on_progress)
        self.workspaces = Workspaces(self)
        self.role_assignments = RoleAssignments(self)
        self.items = Items(self)
        self.data_pipelines = DataPipelines(self)
        self.folders = Folders(self)
        self.jobs = Jobs(self)
        self.schedules = Schedules(self)
        self.capacities = Capacities(self)
        self.operations = Operations(self)
        self.variable_libraries = VariableLibraries(self)
        self.tags = Tags(self)
        self.connections = Connections(self)

    def caller_object_id(self) -> str | None:
        """The object id of the principal this client signs in as (from its token), or None when
        the token does not say (an opaque token)."""
        return token_object_id(self.auth.token())

    def __repr__(self) -> str:
        return f"FabricClient(api_url={self.settings.api_url!r}, credential={self.auth.source!r})"

    def close(self) -> None:
        self.transport.close()
        close = getattr(self.auth, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> FabricClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
