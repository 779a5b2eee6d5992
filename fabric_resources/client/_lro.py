"""Long-running operations: 202 -> poll the operation state -> fetch the result.

Fabric answers a long request with 202, ``Location`` (the operation state URL),
``x-ms-operation-id`` and ``Retry-After``. We poll the state, honouring Retry-After (capped),
until it is ``Succeeded`` or ``Failed`` (or ``Undefined``, which is final: see ``wait``). A succeeded operation may have a result: the finished
state's ``Location`` points at it, otherwise ``/operations/{id}/result``; operations without a
result answer that with 404/400, which simply means "no result".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from fabric_resources.client._transport import Transport, parse_retry_after, response_json
from fabric_resources.errors import (
    DeadlineExceededError,
    NotFoundError,
    OperationFailedError,
    ValidationError,
)
from fabric_resources.models.common import OperationState

__all__ = ["LroPoller", "ProgressCallback"]

ProgressCallback = Callable[[OperationState], None]


class LroPoller:
    def __init__(
        self,
        transport: Transport,
        *,
        timeout: float = 900.0,
        max_interval: float = 30.0,
        default_interval: float = 1.0,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self._t = transport
        self.timeout = timeout
        self.max_interval = max_interval
        self.default_interval = default_interval
        self.on_progress = on_progress

    def _interval(self, resp: requests.Response) -> float:
        advised = parse_retry_after(resp.headers.get("Retry-After"))
        interval = self.default_interval if advised is None else advised
        # Never spin (Retry-After: 0) and never sleep longer than the cap.
        return min(max(interval, 0.05), self.max_interval)

    def result(
        self,
        resp: requests.Response,
        *,
        want_result: bool = True,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The JSON result of a call: the body itself unless ``resp`` is a 202 to poll."""
        if resp.status_code != 202:
            return response_json(resp)
        clock = self._t.clock
        deadline = clock() + (self.timeout if timeout is None else timeout)
        return self._poll(resp, want_result, on_progress or self.on_progress, deadline)

    def _poll(self, accepted: requests.Response, want_result: bool, callback: ProgressCallback | None,
              deadline: float) -> Any:
        """Follow a 202 until the operation ends or ``deadline`` passes."""
        clock = self._t.clock
        operation_id = accepted.headers.get("x-ms-operation-id")
        location = accepted.headers.get("Location")
        if location:
            poll_url = location
        elif operation_id:
            poll_url = f"operations/{operation_id}"
        else:
            # 202 without anything to poll: the work was accepted and there is nothing to follow.
            return response_json(accepted)
        if not operation_id:
            operation_id = _operation_id_from(poll_url)
        interval = self._interval(accepted)
        while True:
            if clock() + interval > deadline:
                raise DeadlineExceededError(
                    f"operation {operation_id or poll_url} still running when its deadline passed"
                )
            self._t.sleep(interval)
            resp = self._t.request("GET", poll_url, deadline=deadline)
            body = response_json(resp)
            if not isinstance(body, dict) or "status" not in body:
                # Some Location URLs point straight at the finished resource.
                return body
            state = OperationState.model_validate(body)
            if callback is not None:
                callback(state)
            if state.status == "Succeeded":
                if not want_result:
                    return None
                return self._fetch_result(resp, operation_id, deadline)
            if state.status == "Undefined":
                # The spec's "status of the operation is undefined" never turns into Succeeded or
                # Failed: polling on would only reach the deadline. Whether the work happened is
                # unknown, so the error says so and names the operation; callers settle as after a
                # lost answer (look the object up).
                raise OperationFailedError(
                    "OperationStatusUndefined",
                    "Fabric reports the operation's status as Undefined: whether its work was done is "
                    "unknown; check the object it acted on before retrying",
                    operation_id=operation_id,
                    status="Undefined",
                )
            if state.status == "Failed":
                err = state.error
                raise OperationFailedError(
                    err.error_code if err else "OperationFailed",
                    err.message if err else "",
                    operation_id=operation_id,
                    request_id=err.request_id if err else None,
                    more_details=[d.model_dump(by_alias=True) for d in err.more_details or []] if err else None,
                )
            interval = self._interval(resp)

    def _fetch_result(self, finished: requests.Response, operation_id: str | None, deadline: float) -> Any:
        result_url = finished.headers.get("Location")
        if not result_url:
            if not operation_id:
                return None
            result_url = f"operations/{operation_id}/result"
        try:
            return response_json(self._t.request("GET", result_url, deadline=deadline))
        except (NotFoundError, ValidationError):
            return None  # the operation has no result (e.g. updateDefinition)


def _operation_id_from(url: str) -> str | None:
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if "operations" in parts:
        i = parts.index("operations")
        if i + 1 < len(parts):
            return parts[i + 1]
    return None
