"""Errors raised by fabric-resources.

The tree (catch the narrowest class that fits; everything derives from ``FabricError``)::

    FabricError                      base of every error this package raises on purpose
    ├── CredentialError              no usable credential source, or the source refused us
    │                                (names the source tried and why; never the secret)
    ├── TransportError               the request got no HTTP answer (DNS, TLS, reset, timeout);
    │                                ``sent`` tells whether it may have reached the service
    ├── HTTPError                    the service answered with an error status
    │   ├── ValidationError          400 (and 422): the request was malformed or invalid
    │   ├── AuthenticationError      401: the token was missing, expired or rejected
    │   ├── PermissionDeniedError    403: authenticated, but not allowed
    │   ├── NotFoundError            404: the object (or its parent) does not exist
    │   ├── ConflictError            409: the request conflicts with the current state
    │   │   └── AlreadyExistsError   ...because a same-named object exists
    │   │                            (errorCode ``*AlreadyInUse`` / ``*AlreadyExists``)
    │   ├── ThrottledError           429: rate limited; ``retry_after`` in seconds
    │   └── ServiceError             5xx: the service failed
    ├── OperationFailedError         a long-running operation or a job ended in failure
    ├── DeadlineExceededError        the overall deadline of a call or wait passed
    └── DefinitionError              a local item definition is invalid (``field`` names where)

Fabric's ``errorCode`` is the stable contract (messages change): the class is chosen by the
HTTP status, except that an ``*AlreadyInUse`` / ``*AlreadyExists`` code always yields
``AlreadyExistsError`` whatever the status, so callers can rely on one type for "name taken".

``str(error)`` is a single line: ``"<ErrorCode>: <message> (HTTP 409, requestId=...)"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "ConflictError",
    "CredentialError",
    "DeadlineExceededError",
    "DefinitionError",
    "FabricError",
    "HTTPError",
    "NotFoundError",
    "OperationFailedError",
    "PermissionDeniedError",
    "ServiceError",
    "ThrottledError",
    "TransportError",
    "ValidationError",
    "describe_error",
    "error_from_response",
]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class FabricError(Exception):
    """Base class of every error raised on purpose by fabric-resources."""


class CredentialError(FabricError):
    """No credential source could produce a token.

    ``source`` names the source that was tried (for example ``"client secret (environment)"``)
    and ``reason`` why it failed. Neither ever contains the secret itself.
    """

    def __init__(self, source: str, reason: str, *, transient: bool = False) -> None:
        self.source = source
        # True when the authority could not be reached (worth retrying), False when it said no.
        self.transient = transient
        self.reason = _one_line(reason)
        super().__init__(f"{source}: {self.reason}")


class TransportError(FabricError):
    """The request got no HTTP answer.

    ``sent`` is False only when the request surely never reached the service (connection
    refused, DNS failure, connect timeout); True means it may have been processed. ``transient``
    is False when trying again cannot help (a TLS failure: the configuration is wrong).
    """

    def __init__(self, message: str, *, sent: bool, method: str = "", url: str = "",
                 transient: bool = True) -> None:
        self.sent = sent
        self.transient = transient
        self.method = method
        self.url = url
        where = f" ({method} {url})" if method else ""
        super().__init__(_one_line(message) + where)


class HTTPError(FabricError):
    """The service answered with an error status; carries Fabric's ErrorResponse fields."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        request_id: str | None = None,
        more_details: list[dict[str, Any]] | None = None,
        related_resource: dict[str, Any] | None = None,
        is_retriable: bool | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.message = _one_line(message)
        self.request_id = request_id
        self.more_details = list(more_details or [])
        self.related_resource = related_resource
        self.is_retriable = is_retriable
        self.method = method
        self.url = url
        super().__init__(self.__str__())

    def __str__(self) -> str:
        rid = f", requestId={self.request_id}" if self.request_id else ""
        return f"{self.error_code}: {self.message} (HTTP {self.status}{rid})"


class ValidationError(HTTPError):
    """HTTP 400/422: the request was rejected as invalid."""


class AuthenticationError(HTTPError):
    """HTTP 401: the bearer token was missing, expired or rejected."""


class PermissionDeniedError(HTTPError):
    """HTTP 403: the caller is authenticated but lacks the permission."""


class NotFoundError(HTTPError):
    """HTTP 404: the object, or one of its parents, does not exist."""


class ConflictError(HTTPError):
    """HTTP 409: the request conflicts with the current state of the object."""


class AlreadyExistsError(ConflictError):
    """An object with the same name already exists (``*AlreadyInUse`` / ``*AlreadyExists``)."""


class ThrottledError(HTTPError):
    """HTTP 429: rate limited. ``retry_after`` is the service's advice in seconds (or None)."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class ServiceError(HTTPError):
    """HTTP 5xx: the service failed to handle the request."""


class OperationFailedError(FabricError):
    """A long-running operation or job instance ended in failure.

    ``error_code`` / ``message`` come from the operation's ``error`` (or the job's
    ``failureReason``); ``operation_id`` is the operation or job instance id.
    """

    def __init__(
        self,
        error_code: str,
        message: str,
        *,
        operation_id: str | None = None,
        request_id: str | None = None,
        more_details: list[dict[str, Any]] | None = None,
        status: str = "Failed",
    ) -> None:
        self.error_code = error_code or "OperationFailed"
        self.message = _one_line(message or "the operation failed without details")
        self.operation_id = operation_id
        self.request_id = request_id
        self.more_details = list(more_details or [])
        self.status = status
        super().__init__(self.__str__())

    def __str__(self) -> str:
        extra = [f"operation {self.status}"]
        if self.operation_id:
            extra.append(f"operationId={self.operation_id}")
        if self.request_id:
            extra.append(f"requestId={self.request_id}")
        return f"{self.error_code}: {self.message} ({', '.join(extra)})"


class DeadlineExceededError(FabricError, TimeoutError):
    """The overall deadline of a call, a long-running operation or a wait has passed.

    ``last_error`` is the error that the last attempt ended with, if any.
    """

    def __init__(self, message: str, *, last_error: BaseException | None = None) -> None:
        self.last_error = last_error
        suffix = f"; last error: {last_error}" if last_error is not None else ""
        super().__init__(_one_line(message) + suffix)


class DefinitionError(FabricError):
    """A local item definition is invalid; ``field`` names the offending part or key."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.message = _one_line(message)
        super().__init__(f"{field}: {self.message}" if field else self.message)


_BY_STATUS: dict[int, type[HTTPError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: ThrottledError,
}


def _is_already_exists(code: str) -> bool:
    return code.endswith("AlreadyInUse") or code.endswith("AlreadyExists")


def error_from_response(
    status: int,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    retry_after: float | None = None,
    method: str = "",
    url: str = "",
) -> HTTPError:
    """Build the typed error for an HTTP error answer (``body`` is the parsed JSON or text)."""
    headers = headers or {}
    data: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    # Some gateways nest the ErrorResponse under "error".
    if "errorCode" not in data and isinstance(data.get("error"), Mapping):
        data = data["error"]
    code = str(data.get("errorCode") or headers.get("x-ms-public-api-error-code") or f"HTTP{status}")
    message = data.get("message")
    if not message:
        message = body.strip()[:300] if isinstance(body, str) and body.strip() else f"HTTP {status}"
    request_id = data.get("requestId") or headers.get("x-ms-request-id") or headers.get("requestId")
    cls: type[HTTPError]
    if _is_already_exists(code):
        cls = AlreadyExistsError
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServiceError
    else:
        cls = HTTPError
    more = data.get("moreDetails")
    related = data.get("relatedResource")
    kwargs: dict[str, Any] = {
        "request_id": str(request_id) if request_id else None,
        "more_details": more if isinstance(more, list) else None,
        "related_resource": related if isinstance(related, dict) else None,
        "is_retriable": data.get("isRetriable") if isinstance(data.get("isRetriable"), bool) else None,
        "method": method,
        "url": url,
    }
    if cls is ThrottledError:
        return ThrottledError(status, code, str(message), retry_after=retry_after, **kwargs)
    return cls(status, code, str(message), **kwargs)


# The facts describe_error appends, in this order, for the attributes an error has (and are set).
_ERROR_FACTS = (
    ("error_code", "errorCode={}"),
    ("operation_id", "operationId={}"),
    ("request_id", "requestId={}"),
    ("retry_after", "retry after {:g}s"),
)


def describe_error(exc: BaseException) -> str:
    """One line for people: what happened, then Fabric's errorCode, the HTTP status (or the operation's
    status) and the requestId to quote to support, whichever the error carries.

    Shared by the providers (engine diagnostics) and the CLI (which also redacts). The client's errors
    never carry a credential, so nothing here needs hiding.
    """
    last = getattr(exc, "last_error", None)
    if last is not None and getattr(last, "status", None) == 429:
        # The client gave up waiting out throttling: what matters is Fabric's answer, not the deadline.
        return f"throttled by Fabric and gave up waiting: {describe_error(last)}"
    if last is not None and getattr(last, "error_code", None):
        return f"gave up after retries: {describe_error(last)}"
    message = _one_line(str(getattr(exc, "message", None) or exc)) or type(exc).__name__
    facts = []
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        facts.append(f"HTTP {status}")
    elif isinstance(status, str) and status:
        facts.append(f"operation {status}")  # OperationFailedError: Failed, Cancelled, ...
    facts += [template.format(value) for attribute, template in _ERROR_FACTS
              if (value := getattr(exc, attribute, None))]
    suffix = f" ({', '.join(facts)})" if facts else ""
    return f"{message}{suffix}"
