"""describe_error: the one line providers and the CLI show for a failure."""

from __future__ import annotations

from fabric_resources.errors import (
    DeadlineExceededError,
    HTTPError,
    OperationFailedError,
    TransportError,
    describe_error,
    error_from_response,
)


def _http(status: int, code: str, retry_after: float | None = None) -> HTTPError:
    body = {"errorCode": code, "message": "Name\n  taken", "requestId": "req-7"}
    return error_from_response(status, body, retry_after=retry_after, method="POST", url="https://x/v1/items")


def test_http_error_names_status_code_and_request_id_on_one_line() -> None:
    exc = _http(409, "ItemDisplayNameAlreadyInUse")
    assert describe_error(exc) == "Name taken (HTTP 409, errorCode=ItemDisplayNameAlreadyInUse, requestId=req-7)"


def test_giving_up_on_throttling_names_fabrics_answer() -> None:
    throttled = _http(429, "RequestBlocked", retry_after=30.0)
    exc = DeadlineExceededError("deadline passed", last_error=throttled)
    assert describe_error(exc) == (
        "throttled by Fabric and gave up waiting: "
        "Name taken (HTTP 429, errorCode=RequestBlocked, requestId=req-7, retry after 30s)"
    )


def test_giving_up_after_retries_names_the_last_error() -> None:
    failed = _http(503, "ServiceUnavailable")
    assert describe_error(DeadlineExceededError("deadline", last_error=failed)).startswith(
        "gave up after retries: Name taken (HTTP 503, errorCode=ServiceUnavailable")


def test_operation_failure_names_the_operation_not_an_http_status() -> None:
    exc = OperationFailedError("CorruptedPayload", "bad part", operation_id="op-1", request_id="req-2")
    assert describe_error(exc) == "bad part (operation Failed, errorCode=CorruptedPayload, operationId=op-1, requestId=req-2)"


def test_errors_without_fabric_facts_are_their_message() -> None:
    assert describe_error(TransportError("connection refused", sent=False)) == "connection refused"
    assert describe_error(ValueError("")) == "ValueError"
