"""Where the Fabric API is and how to authenticate to it.

Settings come from three layers, highest priority first:

1. explicit values (constructor arguments, or Pulumi stack config in ``from_config``),
2. the environment (Azure SDK names: ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ...),
3. an emulator's ``emulator.json`` (``fabric:emulatorDir``, then ``FABRIC_EMULATOR_DIR``).

Every field is taken from the highest layer that sets it, so the documented production setup
(``fabric:tenantId`` + ``fabric:clientId`` in the stack, the secret only in ``AZURE_CLIENT_SECRET``)
combines the two layers. Which *kind* of credential is used is decided once, from the merged
result: the highest layer that names a kind-specific field (a token, a client secret, a
certificate, a managed-identity / device-code / interactive flag) decides the kind, and fields
of the other kinds are dropped, so a stack configured with a client secret never silently picks
up a ``FABRIC_TOKEN`` lying around in the shell. Within one layer the order is: static token,
client secret, client certificate, managed identity, then device code / interactive user login.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from fabric_resources.errors import CredentialError

__all__ = ["CONFIG_KEYS", "DEFAULT_API_URL", "DEFAULT_AUTHORITY", "DEFAULT_SCOPE", "FabricSettings"]

DEFAULT_API_URL = "https://api.fabric.microsoft.com/v1"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com/{tenant}"
DEFAULT_SCOPE = "https://api.fabric.microsoft.com/.default"
DEFAULT_TOKEN_CACHE = "~/.cache/fabric-resources/msal_cache.json"

# Credential fields by the credential kind they select, in the order `credential_kind` prefers
# them within one layer; ``client_id`` is shared by the kinds that need one (see the docstring).
_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "static token": ("token",),
    "client secret": ("client_secret",),
    "client certificate": ("client_certificate_path", "client_certificate_password"),
    "managed identity": ("use_managed_identity",),
    "device code": ("use_device_code",),
    "interactive": ("interactive",),
}
_CREDENTIAL_FIELDS = ("client_id", *(f for fields in _KIND_FIELDS.values() for f in fields))

# Pulumi stack config keys (namespace "fabric:") and the field each sets; the flags are read as
# booleans. ``emulatorDir`` names a whole layer rather than a field.
_CONFIG_FIELDS = {
    "apiUrl": "api_url",
    "authority": "authority",
    "tenantId": "tenant_id",
    "clientId": "client_id",
    "clientSecret": "client_secret",
    "clientCertificatePath": "client_certificate_path",
    "token": "token",
    "caCert": "ca_cert",
    "useManagedIdentity": "use_managed_identity",
    "useDeviceCode": "use_device_code",
}
_CONFIG_FLAGS = frozenset({"useManagedIdentity", "useDeviceCode"})
#: Every stack config key ``FabricSettings.from_config`` reads (without the namespace).
CONFIG_KEYS = (*_CONFIG_FIELDS, "emulatorDir")

_TRUE = {"1", "true", "yes", "on"}


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset values (None, empty strings, False flags) so layers can be merged."""
    return {k: v for k, v in values.items() if v not in (None, "", False)}


class FabricSettings(BaseModel):
    """Endpoint and credentials for a FabricClient. Secrets are ``SecretStr`` (hidden in repr)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    api_url: str = DEFAULT_API_URL
    authority: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_certificate_path: str | None = None
    client_certificate_password: SecretStr | None = None
    token: SecretStr | None = None
    ca_cert: str | None = None
    use_managed_identity: bool = False
    use_device_code: bool = False
    interactive: bool = False
    token_cache_path: str = DEFAULT_TOKEN_CACHE
    scope: str = DEFAULT_SCOPE
    # Where the credential fields came from ("explicit", "stack config", "environment", ...):
    # used only to make CredentialError messages say which source was tried.
    credential_origin: str = "explicit"

    if TYPE_CHECKING:
        # Secrets may be passed as plain strings (pydantic wraps them in SecretStr); this
        # signature tells type checkers so, while the runtime one stays pydantic's.
        def __init__(
            self,
            *,
            api_url: str = ...,
            authority: str | None = ...,
            tenant_id: str | None = ...,
            client_id: str | None = ...,
            client_secret: str | SecretStr | None = ...,
            client_certificate_path: str | None = ...,
            client_certificate_password: str | SecretStr | None = ...,
            token: str | SecretStr | None = ...,
            ca_cert: str | None = ...,
            use_managed_identity: bool = ...,
            use_device_code: bool = ...,
            interactive: bool = ...,
            token_cache_path: str = ...,
            scope: str = ...,
            credential_origin: str = ...,
        ) -> None: ...

    # -- derived values ----------------------------------------------------------------------
    @property
    def resolved_authority(self) -> str:
        """The authority URL MSAL should use, tenant filled in."""
        tenant = self.tenant_id or "organizations"
        authority = (self.authority or DEFAULT_AUTHORITY).rstrip("/")
        if "{tenant}" in authority:
            return authority.replace("{tenant}", tenant)
        # A bare host ("https://login.example") gets the tenant appended; a URL with a path
        # is taken to already name the tenant.
        if not urlsplit(authority).path.strip("/"):
            return f"{authority}/{tenant}"
        return authority

    @property
    def credential_kind(self) -> str | None:
        """Which credential source these settings select, or None when there is none."""
        if self.token is not None and self.token.get_secret_value():
            return "static token"
        if self.client_id and self.client_secret is not None and self.client_secret.get_secret_value():
            return "client secret"
        if self.client_id and self.client_certificate_path:
            return "client certificate"
        if self.use_managed_identity:
            return "managed identity"
        if self.use_device_code:
            return "device code"
        if self.interactive:
            return "interactive"
        return None

    def require_credential(self) -> str:
        """Return the credential kind, or raise CredentialError explaining what was looked for."""
        kind = self.credential_kind
        if kind is not None:
            return kind
        if self.client_id:
            reason = (
                "client_id is set but neither a client secret (AZURE_CLIENT_SECRET / fabric:clientSecret) "
                "nor a certificate (AZURE_CLIENT_CERTIFICATE_PATH) was given"
            )
        else:
            reason = (
                "no credential found: set FABRIC_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + "
                "AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH, or fabric:clientId/fabric:clientSecret "
                "in stack config, or enable managed identity / device code"
            )
        raise CredentialError(f"credentials ({self.credential_origin})", reason)

    def describe(self) -> dict[str, Any]:
        """A secret-free summary for logs and error messages."""
        return {
            "api_url": self.api_url,
            "authority": self.resolved_authority,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "credential": self.credential_kind,
            "credential_origin": self.credential_origin,
            "ca_cert": self.ca_cert,
            "scope": self.scope,
            "client_secret_set": self.client_secret is not None,
            "token_set": self.token is not None,
        }

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def _merge(cls, layers: list[tuple[str, dict[str, Any]]], **extra: Any) -> FabricSettings:
        """Merge (origin, values) layers, highest priority first, field by field (see the module
        docstring); the credential kind is chosen from the merged result."""
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for origin, layer in layers:
            for key, value in layer.items():
                if key not in values and value not in (None, "", False):
                    values[key] = value
                    origins[key] = origin
        kind = cls._chosen_kind(layers)
        kept = set(_KIND_FIELDS[kind]) if kind else set()
        for fields in _KIND_FIELDS.values():
            for key in fields:
                if key not in kept:
                    values.pop(key, None)
                    origins.pop(key, None)
        sources = [origins[key] for key in _CREDENTIAL_FIELDS if key in origins]
        if len(set(sources)) == 1:
            values["credential_origin"] = sources[0]
        elif sources:
            values["credential_origin"] = ", ".join(
                f"{key} from {origins[key]}" for key in _CREDENTIAL_FIELDS if key in origins
            )
        else:
            values["credential_origin"] = ", ".join(o for o, _ in layers) or "nothing"
        values.update(extra)
        return cls(**values)

    @staticmethod
    def _chosen_kind(layers: list[tuple[str, dict[str, Any]]]) -> str | None:
        """The kind named by the highest layer that names one (None: no layer names any)."""
        for _origin, layer in layers:
            for kind, fields in _KIND_FIELDS.items():
                # A certificate password alone does not name a kind; its path does.
                if layer.get(fields[0]) not in (None, "", False):
                    return kind
        return None

    @staticmethod
    def _emulator_values(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
        path = Path(data_dir).expanduser() / "emulator.json"
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CredentialError(f"emulator settings ({path})", f"cannot read emulator.json: {exc}") from exc
        values: dict[str, Any] = {
            "api_url": info.get("api_url"),
            "authority": info.get("authority"),
            "tenant_id": info.get("tenant_id"),
            "ca_cert": info.get("ca_cert"),
        }
        for principal in info.get("principals") or []:
            if principal.get("kind") == "ServicePrincipal" and principal.get("client_id"):
                values["client_id"] = principal["client_id"]
                values["client_secret"] = principal.get("client_secret")
                break
        return _clean(values)

    @staticmethod
    def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
        return _clean(
            {
                "api_url": env.get("FABRIC_API_URL"),
                "authority": env.get("FABRIC_AUTHORITY") or env.get("AZURE_AUTHORITY_HOST"),
                "tenant_id": env.get("AZURE_TENANT_ID"),
                "client_id": env.get("AZURE_CLIENT_ID"),
                "client_secret": env.get("AZURE_CLIENT_SECRET"),
                "client_certificate_path": env.get("AZURE_CLIENT_CERTIFICATE_PATH"),
                "client_certificate_password": env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
                "token": env.get("FABRIC_TOKEN"),
                "ca_cert": env.get("FABRIC_CA_BUNDLE"),
                "use_managed_identity": _flag(env.get("FABRIC_USE_MANAGED_IDENTITY")),
                "use_device_code": _flag(env.get("FABRIC_USE_DEVICE_CODE")),
                "token_cache_path": env.get("FABRIC_TOKEN_CACHE"),
                "scope": env.get("FABRIC_SCOPE"),
            }
        )

    @classmethod
    def _env_layers(
        cls, env: Mapping[str, str], emulator_dir: str | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """The lower layers: the environment, then the emulator files (``emulator_dir``, i.e.
        ``fabric:emulatorDir``, before the one FABRIC_EMULATOR_DIR names)."""
        layers: list[tuple[str, dict[str, Any]]] = [("environment", cls._env_values(env))]
        if emulator_dir:
            resolved = Path(emulator_dir).expanduser().resolve()
            layers.append((f"emulator.json in {resolved}", cls._emulator_values(resolved)))
        if env.get("FABRIC_EMULATOR_DIR"):
            layers.append(("FABRIC_EMULATOR_DIR", cls._emulator_values(env["FABRIC_EMULATOR_DIR"])))
        return layers

    @classmethod
    def from_emulator(cls, data_dir: str | os.PathLike[str]) -> FabricSettings:
        """Settings for a local emulator: its endpoint, CA and first service principal."""
        return cls._merge([(f"emulator.json in {data_dir}", cls._emulator_values(data_dir))])

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FabricSettings:
        """Settings from environment variables (``FABRIC_EMULATOR_DIR`` fills what others do not)."""
        return cls._merge(cls._env_layers(os.environ if env is None else env))

    @classmethod
    def from_config(cls, config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> FabricSettings:
        """Settings from Pulumi stack config (``fabric:*`` keys), then the environment.

        ``fabric:emulatorDir`` (relative to the working directory) supplies from its emulator.json
        whatever the explicit keys and the environment leave unset.
        """
        env = os.environ if env is None else env

        def get(key: str) -> Any:
            value = config.get(f"fabric:{key}")
            if value is None:
                value = config.get(key)  # tolerate keys without the namespace
            return value

        explicit = _clean(
            {
                field: _flag(str(get(key) or "")) if key in _CONFIG_FLAGS else get(key)
                for key, field in _CONFIG_FIELDS.items()
            }
        )
        if explicit.get("ca_cert"):
            explicit["ca_cert"] = str(Path(explicit["ca_cert"]).expanduser().resolve())
        emulator_dir = get("emulatorDir")
        return cls._merge([("stack config", explicit), *cls._env_layers(env, str(emulator_dir or "") or None)])
