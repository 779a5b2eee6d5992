"""Bearer tokens for the Fabric API, through MSAL.

One ``TokenProvider`` per client. It picks the credential source from the settings (see
``FabricSettings``), caches the token and refreshes it a little before it expires (five minutes,
or a quarter of the lifetime for short-lived tokens), and lets the transport force a refresh
after a 401 with ``invalidate()``. Safe to share between threads: only one thread refreshes,
the others wait for its result instead of stampeding the authority.

Tokens and secrets never reach logs or exception messages.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import msal
import requests

from fabric_resources.errors import CredentialError
from fabric_resources.settings import FabricSettings

__all__ = ["TokenProvider", "msal_http_session"]

# Authority hosts MSAL knows natively. For any other host (an emulator, a private cloud) MSAL's
# instance discovery must be off: even when given an instance-discovery URL on that host, MSAL
# 1.39 still asks login.microsoftonline.com for "authority aliases" after every failed token
# request (Application._get_authority_aliases), which leaks the tenant to a Microsoft host and,
# offline, turns a clear "invalid_client" into a connection error.
_KNOWN_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.microsoftonline.de",
        "login.windows.net",
        "login.partner.microsoftonline.cn",
        "login.microsoft.com",
        "sts.windows.net",
    }
)
_MAX_REFRESH_MARGIN = 300.0
# OAuth error codes that mean "try again later" rather than "your credential is wrong".
_TRANSIENT_AUTH_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


class _Credential(Protocol):
    def acquire(self, force: bool) -> dict[str, Any]: ...


def msal_http_session(ca_cert: str | None, allowed_hosts: frozenset[str] | None = None) -> requests.Session:
    """A requests.Session for MSAL that trusts ``ca_cert`` whatever REQUESTS_CA_BUNDLE says.

    With ``allowed_hosts`` every other host is refused before a byte is sent: for a private
    authority nothing of ours may go anywhere else.
    """

    class _Session(requests.Session):
        # requests lets REQUESTS_CA_BUNDLE override Session.verify; pinning verify on every
        # request is the only way to make a private CA (the emulator's) stick.
        def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
            host = urlsplit(url.decode() if isinstance(url, bytes) else url).hostname
            if allowed_hosts is not None and host not in allowed_hosts:
                raise requests.exceptions.InvalidURL(
                    f"refusing to contact {host}: not the configured authority host"
                )
            kwargs.setdefault("verify", ca_cert if ca_cert else True)
            kwargs.setdefault("timeout", 30)
            return super().request(method, url, *args, **kwargs)

    return _Session()


def _is_known_authority(authority: str) -> bool:
    return urlsplit(authority).hostname in _KNOWN_AUTHORITY_HOSTS


def _instance_discovery(authority: str) -> bool | None:
    """None (MSAL's default discovery) for Microsoft hosts, False for any other host."""
    return None if _is_known_authority(authority) else False


def _describe_failure(result: dict[str, Any] | None) -> str:
    if not result:
        return "no answer from the authority"
    parts = [str(result.get("error") or "unknown_error")]
    desc = result.get("error_description")
    if desc:
        # The first line of AADSTS descriptions says what is wrong; the rest is trace ids.
        parts.append(str(desc).splitlines()[0][:300])
    return ": ".join(parts)


class _StaticToken:
    def __init__(self, token: str) -> None:
        self._token = token

    def acquire(self, force: bool) -> dict[str, Any]:
        # A portal-copied token cannot be refreshed: once its JWT expiry has passed, say so
        # plainly instead of sending it and reporting the service's 401.
        expires_in = _jwt_expires_in(self._token)
        if expires_in <= 0:
            return {"error": "token_expired",
                    "error_description": f"the static token expired {-expires_in:.0f}s ago; supply a fresh one"}
        return {"access_token": self._token, "expires_in": expires_in}


def token_object_id(token: str) -> str | None:
    """The ``oid`` claim of a JWT access token (lower case): who the caller is, as Fabric sees it.

    Read without verifying the signature: the token is our own, just issued to us, and the answer is
    only used to recognise the caller's own role assignments. None for an opaque token.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        oid = claims["oid"]
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    return oid.lower() if isinstance(oid, str) else None


def _jwt_expires_in(token: str) -> float:
    """Seconds until a JWT's ``exp`` (3600 when the token is opaque)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) - time.time()
    except (IndexError, ValueError, KeyError, TypeError):
        return 3600.0


class _Confidential:
    def __init__(self, settings: FabricSettings, credential: Any, http: requests.Session) -> None:
        authority = settings.resolved_authority
        self._scopes = [settings.scope]
        self._app = msal.ConfidentialClientApplication(
            settings.client_id,
            client_credential=credential,
            authority=authority,
            http_client=http,
            instance_discovery=_instance_discovery(authority),
        )

    def acquire(self, force: bool) -> dict[str, Any]:
        if force:
            # MSAL would hand back its cached token; drop it so the authority issues a new one.
            cache = self._app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(entry)
        result: dict[str, Any] = self._app.acquire_token_for_client(scopes=self._scopes)
        return result


class _ManagedIdentity:
    def __init__(self, settings: FabricSettings, http: requests.Session) -> None:
        identity: Any
        if settings.client_id:
            identity = msal.UserAssignedManagedIdentity(client_id=settings.client_id)
        else:
            identity = msal.SystemAssignedManagedIdentity()
        self._client = msal.ManagedIdentityClient(identity, http_client=http)
        # Managed identity speaks in resources, not scopes.
        self._resource = settings.scope.removesuffix("/.default")

    def acquire(self, force: bool) -> dict[str, Any]:
        result: dict[str, Any] = self._client.acquire_token_for_client(resource=self._resource)
        return result


class _PublicClient:
    """Device code or interactive user login with a persistent, user-private token cache."""

    def __init__(self, settings: FabricSettings, http: requests.Session, *, device_code: bool,
                 prompt: Callable[[str], None]) -> None:
        authority = settings.resolved_authority
        self._scopes = [settings.scope]
        self._device_code = device_code
        self._prompt = prompt
        self._cache_path = Path(os.path.expanduser(settings.token_cache_path))
        self._cache = msal.SerializableTokenCache()
        if self._cache_path.exists():
            self._cache.deserialize(self._cache_path.read_text())
        self._app = msal.PublicClientApplication(
            settings.client_id or _AZURE_CLI_CLIENT_ID,
            authority=authority,
            http_client=http,
            token_cache=self._cache,
            instance_discovery=_instance_discovery(authority),
        )

    def _save(self) -> None:
        if not self._cache.has_state_changed:
            return
        self._cache_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Create with 0600 from the start: the file holds refresh tokens.
        fd = os.open(self._cache_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self._cache.serialize())
        os.chmod(self._cache_path, 0o600)

    def acquire(self, force: bool) -> dict[str, Any]:
        result: dict[str, Any] | None = None
        accounts = self._app.get_accounts()
        if accounts:
            result = self._app.acquire_token_silent(self._scopes, account=accounts[0], force_refresh=force)
        if not result or "access_token" not in result:
            if self._device_code:
                flow = self._app.initiate_device_flow(scopes=self._scopes)
                if "user_code" not in flow:
                    return flow
                self._prompt(str(flow.get("message")))
                result = self._app.acquire_token_by_device_flow(flow)
            else:
                result = self._app.acquire_token_interactive(self._scopes)
        self._save()
        return result or {}


# Public client id of the Azure CLI, the usual choice when no app registration is given.
_AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


class TokenProvider:
    """Thread-safe cached bearer token for one credential source."""

    def __init__(
        self,
        settings: FabricSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        prompt: Callable[[str], None] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._expires_at = 0.0
        # Set by invalidate(): the next fetch must bypass MSAL's own token cache.
        self._force_next = False
        self.kind = settings.require_credential()
        self.source = f"{self.kind} ({settings.credential_origin})"
        self._http: requests.Session | None = None
        self._prompt = prompt or (lambda msg: print(msg, flush=True))
        # Built on first use: MSAL fetches authority metadata when constructed, and creating a
        # client (e.g. in a Pulumi provider's configure) must not do network I/O.
        self._credential: _Credential | None = None

    def _build(self, prompt: Callable[[str], None]) -> _Credential:
        s = self._settings
        if self.kind == "static token":
            assert s.token is not None
            return _StaticToken(s.token.get_secret_value())
        allowed = None
        if self.kind != "managed identity" and not _is_known_authority(s.resolved_authority):
            allowed = frozenset({urlsplit(s.resolved_authority).hostname or ""})
        self._http = msal_http_session(s.ca_cert, allowed)
        try:
            if self.kind == "client secret":
                assert s.client_secret is not None
                return _Confidential(s, s.client_secret.get_secret_value(), self._http)
            if self.kind == "client certificate":
                return _Confidential(s, self._certificate_credential(), self._http)
            if self.kind == "managed identity":
                return _ManagedIdentity(s, self._http)
            return _PublicClient(s, self._http, device_code=self.kind == "device code", prompt=prompt)
        except CredentialError:
            raise
        except (ValueError, OSError, requests.RequestException) as exc:
            # MSAL validates the authority (and may fetch its metadata) at construction.
            raise CredentialError(self.source, f"cannot set up MSAL for {s.resolved_authority}: "
                                  f"{type(exc).__name__}: {exc}") from None

    def _certificate_credential(self) -> dict[str, Any]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization

        s = self._settings
        assert s.client_certificate_path is not None
        try:
            pem = Path(s.client_certificate_path).expanduser().read_bytes()
        except OSError as exc:
            raise CredentialError(self.source, f"cannot read certificate file: {exc.strerror}") from None
        password = s.client_certificate_password.get_secret_value().encode() if s.client_certificate_password else None
        try:
            key = serialization.load_pem_private_key(pem, password=password)
            cert = x509.load_pem_x509_certificate(pem)
        except (ValueError, TypeError) as exc:
            raise CredentialError(
                self.source, f"certificate file must hold a PEM private key and certificate: {exc}"
            ) from None
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "private_key": key_pem,
            "thumbprint": cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - x5t is SHA-1 by spec
            "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
        }

    def token(self) -> str:
        """A valid bearer token, refreshed when close to expiry."""
        with self._lock:
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            return self._refresh()

    def invalidate(self, rejected: str | None = None) -> None:
        """Forget the cached token (after a 401) so the next ``token()`` fetches a new one.

        ``rejected`` is the token the service refused; when another thread already replaced
        it, nothing is dropped (avoids N threads each forcing their own refresh).
        """
        with self._lock:
            if rejected is None or rejected == self._token:
                self._token = None
                self._refresh_at = 0.0
                self._force_next = True

    def _refresh(self) -> str:
        try:
            if self._credential is None:
                self._credential = self._build(self._prompt)
            result = self._credential.acquire(self._force_next)
        except CredentialError:
            raise
        except Exception as exc:  # MSAL raises a zoo of types (ValueError, requests, its own)
            raise CredentialError(
                self.source, f"{type(exc).__name__}: {exc}", transient=isinstance(exc, requests.RequestException)
            ) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            transient = isinstance(result, dict) and result.get("error") in _TRANSIENT_AUTH_ERRORS
            raise CredentialError(
                self.source, f"token request failed: {_describe_failure(result)}", transient=transient
            )
        lifetime = float(result.get("expires_in") or 3600)
        now = self._clock()
        margin = min(_MAX_REFRESH_MARGIN, lifetime / 4)
        self._token = str(token)
        self._expires_at = now + lifetime
        self._refresh_at = now + lifetime - margin
        self._force_next = False
        return self._token

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
