"""Shared machinery of the Fabric dynamic providers.

Every provider instance is pickled (by dill) into the `__provider` property of each resource and stored
in the stack state. The instances therefore carry nothing at all: the classes live in this importable
package (pickled by reference, so state always runs the installed code), settings arrive through
`configure(req)` in the provider process, and the `FabricClient` is built lazily and cached in a
module-level dict keyed by a fingerprint of those settings. Result: the pickled provider is a few
hundred bytes, identical for every resource of a type, and never contains a credential.

During `preview`, inputs that depend on resources not yet created are `pulumi.output.Unknown`
instances; `check` and `diff` tolerate them and never call the API (neither does anything else on a
no-op preview/up: `check` and `diff` work from inputs and state only).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import inspect
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    DiffResult,
    ReadResult,
    ResourceProvider,
)
from pulumi.runtime import rpc

from fabric_resources.definitions import PLATFORM_SCHEMA
from fabric_resources.errors import FabricError, NotFoundError, describe_error
from fabric_resources.providers._concurrency import CONFIG_KEY as _IN_FLIGHT_CONFIG_KEY
from fabric_resources.providers._concurrency import LIMITER, POOL_HEADROOM, configure_in_flight
from fabric_resources.providers._listing import LISTINGS

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter

    from fabric_resources.client import FabricClient

__all__ = [
    "FabricProvider",
    "FabricProviderError",
    "allow_not_found",
    "default_logical_id",
    "describe_error",
    "is_not_found",
    "is_unknown",
    "lower_id",
    "platform_logical_id",
    "platform_part",
    "translate_errors",
]

T = TypeVar("T")

CONFIG_NAMESPACE = "fabric:"
MAX_IN_FLIGHT_KEY = _IN_FLIGHT_CONFIG_KEY.removeprefix(CONFIG_NAMESPACE)

# fingerprint -> the fabric:* config captured by configure(); fingerprint -> client built from it.
_CONFIGS: dict[str, dict[str, Any]] = {}
_CLIENTS: dict[str, FabricClient] = {}
_LOCK = threading.Lock()


class FabricProviderError(Exception):
    """A Fabric call made by a provider failed; the message carries errorCode and requestId."""


def is_unknown(value: Any) -> bool:
    """True for a value the engine does not know yet (preview of a not-yet-created dependency)."""
    if isinstance(value, pulumi.output.Unknown):
        return True
    return isinstance(value, str) and value == rpc.UNKNOWN


def holds(value: Any, test: Callable[[Any], bool]) -> bool:
    """Whether ``value`` or anything inside its dicts and lists passes ``test``."""
    if test(value):
        return True
    if isinstance(value, Mapping):
        return any(holds(v, test) for v in value.values())
    if isinstance(value, list | tuple):
        return any(holds(v, test) for v in value)
    return False


def contains_unknown(value: Any) -> bool:
    return holds(value, is_unknown)


def is_deploy_time(value: Any) -> bool:
    """A program-side value known only at deploy time (an Output, or anything awaitable)."""
    return isinstance(value, pulumi.Output) or inspect.isawaitable(value)


def holds_outputs(value: Any) -> bool:
    """Whether a program-side value holds deploy-time values anywhere inside it: such a value can
    only be checked once the engine has resolved it."""
    return holds(value, is_deploy_time)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, NotFoundError)


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Re-raise client errors as one readable line; `from None` keeps the engine's traceback short."""
    try:
        yield
    except FabricError as exc:
        raise FabricProviderError(f"{action} failed: {describe_error(exc)}") from None


def allow_not_found(action: str, call: Callable[[], T]) -> T | None:
    """``call()``, or None when Fabric answers that the object does not exist (read and delete treat
    a vanished object as gone, not as a failure); other client errors as ``translate_errors``."""
    with translate_errors(action):
        try:
            return call()
        except NotFoundError:
            return None


def read_outputs(id_: str, action: str, fetch: Callable[[], T], outputs: Callable[[T], dict[str, Any]]) -> ReadResult:
    """The ReadResult of a resource whose outputs are also its inputs: an empty id when ``fetch``
    finds the object gone (the engine then drops it from the stack), else its outputs returned as
    the inputs too, so that a refresh shows drift (``read`` must return inputs)."""
    found = allow_not_found(action, fetch)
    if found is None:
        return ReadResult("", {})
    outs = outputs(found)
    return ReadResult(id_, outs, dict(outs))


# Fixed forever: changing it would change every derived logicalId, and with it which live items a
# stack recognises as its own.
LOGICAL_ID_NAMESPACE = uuid.UUID("6f3c1d2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")


def default_logical_id(project: str, stack: str, resource_name: str, type_name: str) -> str:
    """The logicalId a declared item gets when its folder names none: the same for every run of the
    same project, stack and resource, different for any other (so two stacks never claim one item)."""
    return str(uuid.uuid5(LOGICAL_ID_NAMESPACE, f"{project}/{stack}/{type_name}/{resource_name}"))


def platform_logical_id(definition: Any) -> str | None:
    """``config.logicalId`` (lower case) of the ``.platform`` part of a definition read from Fabric,
    any item type; None when there is no readable one."""
    part = next((p for p in getattr(definition, "parts", []) if getattr(p, "path", None) == ".platform"), None)
    if part is None:
        return None
    try:
        doc = json.loads(part.data)
    except (ValueError, UnicodeDecodeError):
        return None
    config = doc.get("config") if isinstance(doc, dict) else None
    value = config.get("logicalId") if isinstance(config, dict) else None
    return value.lower() if isinstance(value, str) else None


def platform_part(item_type: str, display_name: str, description: str | None, logical_id: str) -> dict[str, Any]:
    """A ``.platform`` definition part naming the item and carrying its logicalId (sent with
    updateMetadata only when the logicalId is to change; Fabric keeps the item's own otherwise)."""
    metadata: dict[str, Any] = {"type": item_type, "displayName": display_name}
    if description is not None:
        metadata["description"] = description
    doc = {"$schema": PLATFORM_SCHEMA, "metadata": metadata, "config": {"version": "2.0", "logicalId": logical_id}}
    payload = base64.b64encode(json.dumps(doc, indent=2, ensure_ascii=False).encode()).decode("ascii")
    return {"path": ".platform", "payload": payload, "payloadType": "InlineBase64"}


def lower_id(value: Any) -> Any:
    """GUIDs in lower case, as Fabric echoes them; anything else (None, unknowns) unchanged."""
    return value.lower() if isinstance(value, str) else value


def _fingerprint(config: Mapping[str, Any]) -> str:
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _fabric_config(req: ConfigureRequest) -> dict[str, Any]:
    raw = getattr(req.config, "_props", None)
    if isinstance(raw, Mapping):
        return {k: v for k, v in raw.items() if isinstance(k, str) and k.startswith(CONFIG_NAMESPACE)}
    # pulumi.dynamic.Config keeps its raw mapping in a private attribute; should that go, ask for
    # each key the settings read, one by one.
    from fabric_resources.settings import CONFIG_KEYS

    config: dict[str, Any] = {}
    for key in (*CONFIG_KEYS, MAX_IN_FLIGHT_KEY):
        value = req.config.get(CONFIG_NAMESPACE + key)
        if value is not None:
            config[CONFIG_NAMESPACE + key] = value
    return config


def client_for(config: Mapping[str, Any]) -> FabricClient:
    """The shared client for a settings dict (built on first use; no network until a call is made)."""
    return _shared_client(_fingerprint(config), config)


def _shared_client(key: str, config: Mapping[str, Any]) -> FabricClient:
    """The client cached under ``key``, the fingerprint of ``config``."""
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            # Imported here: check/diff never need the client, so a preview stays light.
            from fabric_resources.client import FabricClient
            from fabric_resources.settings import FabricSettings

            settings = FabricSettings.from_config(dict(config))
            # One connection per operation in flight (and the check/diff headroom), none discarded.
            client = FabricClient(settings, pool_size=max(16, LIMITER.limit + POOL_HEADROOM))
            _CLIENTS[key] = client
        return client


def _same(a: Any, b: Any) -> bool:
    return bool(a == b)


_OPERATIONS = ("create", "read", "update", "delete")
_WRITES = frozenset({"create", "update", "delete"})


def _limited(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` run under the process's in-flight limit; a write also discards the item listings
    (before: no read starting during the write reuses an older listing; after: none from during it)."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LIMITER:
            if name not in _WRITES:
                return method(self, *args, **kwargs)
            LISTINGS.invalidate()
            try:
                return method(self, *args, **kwargs)
            finally:
                LISTINGS.invalidate()

    run.__fabric_limited__ = True  # type: ignore[attr-defined]
    return run


class InputsModel:
    """A provider's inputs model, named by the provider and imported from providers/inputs.py on
    first use (the first check, in the provider process): a Pulumi program imports the Resource
    classes and their providers but never validates, so it never loads pydantic."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, _obj: Any, _owner: Any = None) -> type[BaseModel]:
        from fabric_resources.providers import inputs

        model: type[BaseModel] = getattr(inputs, self.name)
        return model


@dataclass(frozen=True)
class _Field:
    name: str
    adapter: TypeAdapter[Any]
    required: bool
    is_id: bool


class FabricProvider(ResourceProvider):
    """Base of the Fabric providers: settings/client plumbing, field-wise check and diff.

    Subclasses set `inputs_model` (``InputsModel("<name>")``: the pydantic model of the inputs in
    providers/inputs.py, one field per input property),
    `compared` (properties whose change means an update), `replace_on` (properties whose change means
    a replacement) and optionally `normalizers` (property -> function giving the value compared), then
    implement create/read/update/delete.
    """

    # The instance holds no secrets, so the pickled provider need not be a secret in state (it stays
    # readable, which lets tests show it is small and the same for every resource of a type).
    serialize_as_secret_always = False

    kind: ClassVar[str] = "resource"
    inputs_model: InputsModel
    compared: ClassVar[tuple[str, ...]] = ()
    replace_on: ClassVar[tuple[str, ...]] = ()
    # Properties the Resource declares (as None) only so they can be read back as outputs.
    output_only: ClassVar[tuple[str, ...]] = ()
    # Optional inputs that, left unset (None), are not managed: whatever Fabric or anyone else put
    # there (a tenant's default capacity, a folder chosen in the portal) is recorded but never shows
    # as a change and is never undone. "" is the explicit, managed "none" (see DECISIONS.md).
    unmanaged_when_unset: ClassVar[tuple[str, ...]] = ()
    normalizers: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    _fields_cache: ClassVar[dict[type, tuple[_Field, ...]]] = {}
    _id_fields_cache: ClassVar[dict[type, frozenset[str]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every provider's API operations share one in-flight limit (see _concurrency), whichever
        # subclass defines them; check/diff stay unlimited (no API call, and quick).
        super().__init_subclass__(**kwargs)
        for name in _OPERATIONS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__fabric_limited__", False):
                setattr(cls, name, _limited(name, method))

    # -- settings and client -----------------------------------------------------------------
    def configure(self, req: ConfigureRequest) -> None:
        # Runs in the provider process on an unpickled instance, which is never pickled again; only a
        # fingerprint is kept on it, the config itself stays in a module-level dict.
        config = _fabric_config(req)
        try:
            # Runs on one of the provider process's pool threads: the moment to widen that pool.
            configure_in_flight(config)
        except ValueError as exc:
            raise FabricProviderError(f"invalid provider configuration: {exc}") from None
        key = _fingerprint(config)
        with _LOCK:
            _CONFIGS[key] = config
        self._config_key = key

    @property
    def client(self) -> FabricClient:
        key = getattr(self, "_config_key", None)
        config = _CONFIGS.get(key) if key else None
        if key is None or config is None:
            # With no configure() (direct use), an empty config means: environment variables only.
            return client_for({})
        # configure() already fingerprinted the config: no need to hash it again on every call.
        return _shared_client(key, config)

    # -- check -------------------------------------------------------------------------------
    @classmethod
    def _fields(cls) -> tuple[_Field, ...]:
        """The inputs model's fields, each with its validator (built once per class, on first check)."""
        fields = cls._fields_cache.get(cls)
        if fields is None:
            from fabric_resources.providers._validation import field_adapters

            model = cls.inputs_model
            ids = cls._id_fields()
            fields = tuple(
                _Field(name, adapter, model.model_fields[name].is_required(), name in ids)
                for name, adapter in field_adapters(model).items()
            )
            cls._fields_cache[cls] = fields
        return fields

    @classmethod
    def _id_fields(cls) -> frozenset[str]:
        ids = cls._id_fields_cache.get(cls)
        if ids is None:
            from fabric_resources.providers._validation import id_fields

            ids = cls._id_fields_cache[cls] = id_fields(cls.inputs_model)
        return ids

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = dict(news)
        failures: list[CheckFailure] = []
        fields = self._fields()
        for field in fields:
            name = field.name
            value = news.get(name)
            if value is None:
                if field.required:
                    failures.append(CheckFailure(name, f"{self.kind}: '{name}' is required"))
                continue
            if contains_unknown(value):
                continue
            try:
                validated = field.adapter.validate_python(value)
            except ValueError as exc:  # pydantic's ValidationError
                from fabric_resources.providers._validation import format_validation_error

                failures.append(CheckFailure(name, f"{self.kind}: invalid '{name}': {format_validation_error(exc)}"))
                continue
            if field.is_id:
                # Fabric accepts ids in any case and echoes them in lower case: one spelling in the
                # inputs means no permanent diff, and creates recognise what the service answers.
                validated = lower_id(validated)
            inputs[name] = self.normalize_input(name, validated)
        known = {f.name for f in fields}
        for name in news:
            if name not in known and name not in self.output_only and not name.startswith("__"):
                failures.append(CheckFailure(name, f"{self.kind}: unknown property '{name}'"))
        # Content checks run even when another field failed, so one preview lists every problem.
        failed = {f.property for f in failures}
        failures.extend(f for f in self.check_more(inputs) if f.property not in failed)
        return CheckResult(inputs, failures)

    def normalize_input(self, name: str, value: Any) -> Any:
        """The value stored as input after validation (JSON-ready); override for structured inputs."""
        dump = getattr(value, "model_dump", None)
        if callable(dump):  # a pydantic model
            return dump(mode="json", by_alias=True, exclude_none=True)
        return value

    def check_more(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        """Cross-field or content checks on the validated inputs (no API call)."""
        return []

    # -- diff --------------------------------------------------------------------------------
    def changed_properties(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
        changed = []
        for name in (*self.replace_on, *self.compared):
            new = news.get(name)
            if new is None and name in self.unmanaged_when_unset:
                continue
            if contains_unknown(new):
                changed.append(name)
                continue
            norm = self._compared_form(name)
            if not _same(norm(olds.get(name)), norm(new)):
                changed.append(name)
        return changed

    def _compared_form(self, name: str) -> Callable[[Any], Any]:
        """The property's normalizer; ids are also compared in lower case (state written before
        inputs were normalised may hold another spelling)."""
        norm = self.normalizers.get(name, lambda v: v)
        if name in self._id_fields():
            return lambda v: lower_id(norm(v))
        return norm

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # `olds` are the outputs in state; `__provider` and bookkeeping inputs (adopt_existing) are not
        # compared, so a provider code upgrade or a flag flip never shows up as a change.
        changed = self.changed_properties(olds, news)
        replaces = [name for name in changed if name in self.replace_on]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)


def optional_text(value: Any) -> str | None:
    """Fabric returns "" or omits an unset description; both mean no description."""
    if value is None or value == "":
        return None
    return str(value)
