"""The emulator's identity provider: an Entra-compatible authority that signs Fabric tokens.

What real clients need, and nothing more:

- MSAL (``ConfidentialClientApplication(client_id, client_credential=secret, authority=...)``)
  resolves an authority by calling, in order: instance discovery (unless disabled or the
  authority is "known to the developer"), the tenant's OpenID configuration, then the token
  endpoint named there. All three are served here under the emulator's own origin.
- Tokens are RS256 JWTs shaped like Entra access tokens for ``https://api.fabric.microsoft.com``
  (tid, oid, appid|upn, roles|scp, kid header); the public key is published as a JWKS.

State (``DATA_DIR/identity.json`` and ``DATA_DIR/signing-key.pem``, both mode 0600) is created on
first start and reused, so the tenant, principals, secrets and already-issued tokens survive a
restart. The issuer embeds the current origin (port included, as MSAL's issuer checks expect);
verification therefore accepts any loopback origin for our tenant, so tokens from a previous run
(different port) stay valid -- the signature is what proves they are ours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_plus, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .files import write_private
from .http import request_origin

FABRIC_AUDIENCE = "https://api.fabric.microsoft.com"
FABRIC_DEFAULT_SCOPE = f"{FABRIC_AUDIENCE}/.default"
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600

#: Application permissions granted to every service principal (the `roles` claim).
SP_ROLES = ("Tenant.ReadWrite.All",)
#: Delegated scopes granted to users (the space-separated `scp` claim), as the Fabric docs name them.
USER_SCOPES = (
    "Workspace.ReadWrite.All", "Item.ReadWrite.All", "Item.Execute.All",
    "DataPipeline.ReadWrite.All", "DataPipeline.Execute.All", "Capacity.Read.All",
)
#: Tenant path segments MSAL may use instead of the tenant id.
TENANT_ALIASES = ("organizations", "common")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

IDENTITY_FILE = "identity.json"
SIGNING_KEY_FILE = "signing-key.pem"

PrincipalKind = Literal["ServicePrincipal", "User"]


@dataclass(frozen=True)
class Principal:
    """Who a token speaks for. Never holds a secret, so it is safe to log and repr."""

    object_id: str
    kind: PrincipalKind
    display_name: str
    client_id: str | None = None
    upn: str | None = None


class InvalidToken(Exception):
    """A bearer token was refused; ``reason`` is "missing", "invalid" or "expired"."""

    def __init__(self, reason: Literal["missing", "invalid", "expired"], detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


ConfigSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None


class Identity:
    """Tenant, principals and signing key of one emulator data directory."""

    def __init__(
        self,
        tenant_id: str,
        principals: list[Principal],
        client_secrets: dict[str, str],
        signing_key: rsa.RSAPrivateKey,
        base_url: str = "",
        config: ConfigSource = None,
    ) -> None:
        self.tenant_id = tenant_id
        self._principals = list(principals)
        self._secrets = dict(client_secrets)  # client_id -> secret; deliberately not on Principal
        self._key = signing_key
        self._public_key = signing_key.public_key()
        self.kid = _key_id(self._public_key)
        self.base_url = base_url
        #: Where `token_lifetime_seconds` is read from at issue time (the live emulator config).
        self.config_source: ConfigSource = config
        self._by_oid = {p.object_id: p for p in self._principals}
        self._by_client = {p.client_id.lower(): p for p in self._principals if p.client_id}
        self._by_upn = {p.upn.lower(): p for p in self._principals if p.upn}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Identity(tenant_id={self.tenant_id!r}, principals={len(self._principals)}, kid={self.kid!r})"

    # -- persistence ---------------------------------------------------------------------------
    @classmethod
    def load_or_create(cls, data_dir: Path | str, base_url: str = "", config: ConfigSource = None) -> Identity:
        """Load the identity kept in ``data_dir``, creating it (tenant, principals, key) first time."""
        folder = Path(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        key_path = folder / SIGNING_KEY_FILE
        info_path = folder / IDENTITY_FILE
        if key_path.exists() and info_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{key_path} does not hold an RSA private key")
            info = json.loads(info_path.read_text())
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            info = _new_identity_info()
            write_private(key_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            write_private(info_path, json.dumps(info, indent=2).encode())
        principals: list[Principal] = []
        client_secrets: dict[str, str] = {}
        for entry in info["principals"]:
            principals.append(Principal(
                object_id=entry["object_id"], kind=entry["kind"], display_name=entry["display_name"],
                client_id=entry.get("client_id"), upn=entry.get("user_principal_name"),
            ))
            if entry.get("client_secret"):
                client_secrets[entry["client_id"]] = entry["client_secret"]
        return cls(info["tenant_id"], principals, client_secrets, key, base_url=base_url, config=config)

    # -- principals ----------------------------------------------------------------------------
    @property
    def principals(self) -> list[Principal]:
        return list(self._principals)

    @property
    def default_service_principal(self) -> Principal:
        return next(p for p in self._principals if p.kind == "ServicePrincipal")

    def find_principal(
        self, *, client_id: str | None = None, upn: str | None = None, object_id: str | None = None
    ) -> Principal | None:
        if client_id is not None:
            return self._by_client.get(client_id.lower())
        if upn is not None:
            return self._by_upn.get(upn.lower())
        if object_id is not None:
            return self._by_oid.get(object_id)
        return None

    def check_client_secret(self, client_id: str, secret: str) -> bool:
        expected = self._secrets.get(client_id) or self._secrets.get(client_id.lower())
        # Constant-time: the token endpoint is reachable by anything on the machine.
        return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())

    def connection_principals(self) -> list[dict[str, Any]]:
        """Principals as written to emulator.json (service principals include their secret)."""
        out: list[dict[str, Any]] = []
        for p in self._principals:
            entry: dict[str, Any] = {"kind": p.kind, "object_id": p.object_id, "display_name": p.display_name}
            if p.kind == "ServicePrincipal":
                entry["client_id"] = p.client_id
                entry["client_secret"] = self._secrets.get(p.client_id or "", "")
            else:
                entry["user_principal_name"] = p.upn
            out.append(entry)
        return out

    # -- tokens ---------------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return f"{self._origin()}/{self.tenant_id}/v2.0"

    def _origin(self) -> str:
        base = self.base_url.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        return base or "https://127.0.0.1"

    def token_lifetime(self) -> int:
        source = self.config_source
        cfg = source() if callable(source) else source
        value = (cfg or {}).get("token_lifetime_seconds", DEFAULT_TOKEN_LIFETIME_SECONDS)
        try:
            return max(1, int(value))
        except (TypeError, ValueError):
            return DEFAULT_TOKEN_LIFETIME_SECONDS

    def issue_token(
        self, principal: Principal, *, lifetime_seconds: float | None = None, scopes: list[str] | None = None,
        issuer: str | None = None,
    ) -> str:
        """Sign an access token for the Fabric API on behalf of ``principal``.

        ``issuer`` defaults to the configured origin's; the token endpoint passes the one the client
        dialled (any loopback origin of our tenant verifies, see ``_issuer_ok``).
        """
        now = int(time.time())
        lifetime = self.token_lifetime() if lifetime_seconds is None else max(1, int(lifetime_seconds))
        claims: dict[str, Any] = {
            "aud": FABRIC_AUDIENCE,
            "iss": issuer or self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "tid": self.tenant_id,
            "oid": principal.object_id,
            "sub": principal.object_id,
            "uti": uuid.uuid4().hex,
            "ver": "2.0",
        }
        if principal.kind == "ServicePrincipal":
            claims.update(appid=principal.client_id, azp=principal.client_id, idtyp="app",
                          roles=list(scopes) if scopes else list(SP_ROLES))
        else:
            claims.update(upn=principal.upn, unique_name=principal.upn, name=principal.display_name,
                          idtyp="user", scp=" ".join(scopes) if scopes else " ".join(USER_SCOPES))
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def verify(self, token: str | None) -> Principal:
        """The principal a bearer token speaks for, or ``InvalidToken``."""
        if token and token[:7].lower() == "bearer ":
            token = token[7:]
        token = (token or "").strip()
        if not token:
            raise InvalidToken("missing")
        try:
            claims = jwt.decode(
                token, self._public_key, algorithms=["RS256"], audience=FABRIC_AUDIENCE,
                options={"require": ["exp", "iss", "aud", "oid", "tid"]}, leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("expired", "the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid", "the token is malformed or not signed by this tenant") from exc
        if claims.get("tid") != self.tenant_id or not self._issuer_ok(str(claims.get("iss", ""))):
            raise InvalidToken("invalid", "the token was issued for another tenant")
        principal = self._by_oid.get(str(claims["oid"]))
        if principal is None:
            raise InvalidToken("invalid", "the token's principal is unknown")
        return principal

    def _issuer_ok(self, iss: str) -> bool:
        if iss == self.issuer:
            return True
        # Tokens from an earlier run of this data dir carry the then-current port.
        parts = urlsplit(iss)
        return (parts.scheme == "https" and (parts.hostname or "") in LOOPBACK_HOSTS
                and parts.path == f"/{self.tenant_id}/v2.0")

    def jwks(self) -> dict[str, Any]:
        numbers = self._public_key.public_numbers()
        return {"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e),
            "issuer": self.issuer,
        }]}

    # -- HTTP: the Entra-compatible authority ----------------------------------------------------
    def routes(self) -> list[Route]:
        return [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self._openid_configuration, methods=["GET"]),
            Route("/{tenant}/.well-known/openid-configuration", self._openid_configuration, methods=["GET"]),
            Route("/{tenant}/discovery/instance", self._instance_discovery, methods=["GET"]),
            Route("/{tenant}/discovery/v2.0/keys", self._keys, methods=["GET"]),
            Route("/{tenant}/discovery/keys", self._keys, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route("/{tenant}/oauth2/token", self._token, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/devicecode", self._unsupported_flow, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/authorize", self._unsupported_flow, methods=["GET", "POST"]),
        ]

    def _request_origin(self, request: Request) -> str:
        # The origin the client dialled (https://localhost:PORT when reached as localhost): MSAL and
        # our client only follow endpoints on the authority's own host. The configured origin is the
        # fallback for requests without a usable Host header.
        return request_origin(request, self._origin())

    def _issuer_for(self, origin: str) -> str:
        candidate = f"{origin}/{self.tenant_id}/v2.0"
        # Only an issuer that verify() accepts (loopback hosts): a token must work wherever it is sent.
        return candidate if self._issuer_ok(candidate) else self.issuer

    def _tenant_ok(self, tenant: str) -> bool:
        return tenant.lower() == self.tenant_id or tenant.lower() in TENANT_ALIASES

    async def _openid_configuration(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not self._tenant_ok(tenant):
            return _tenant_not_found(tenant)
        origin = self._request_origin(request)
        # Entra answers /common with a templated issuer; a GUID tenant gets its own.
        issuer = (f"{origin}/{{tenantid}}/v2.0" if tenant.lower() in TENANT_ALIASES else self._issuer_for(origin))
        base = f"{origin}/{tenant}"
        return JSONResponse({
            "issuer": issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "upn", "appid"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "fabric-emulator",
        })

    async def _instance_discovery(self, request: Request) -> Response:
        # MSAL sends authorization_endpoint=https://HOST/<tenant>/oauth2/v2.0/authorize (no port).
        endpoint = request.query_params.get("authorization_endpoint", "")
        parts = urlsplit(endpoint)
        origin = self._request_origin(request)
        own_host = urlsplit(origin).hostname or "127.0.0.1"
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or host not in (LOOPBACK_HOSTS | {own_host}):
            return _aad_error(400, "invalid_instance",
                              f"AADSTS50049: Unknown or invalid instance '{host or endpoint}'.", 50049)
        segments = [s for s in parts.path.split("/") if s]
        tenant = segments[0] if segments else "common"
        netloc = urlsplit(origin).netloc
        return JSONResponse({
            "tenant_discovery_endpoint": f"{origin}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": request.query_params.get("api-version", "1.1"),
            "metadata": [{"preferred_network": netloc, "preferred_cache": netloc, "aliases": [netloc]}],
        })

    async def _keys(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not self._tenant_ok(tenant):
            return _tenant_not_found(tenant)
        return JSONResponse(self.jwks())

    async def _unsupported_flow(self, request: Request) -> Response:
        return _aad_error(400, "unsupported_grant_type",
                          "AADSTS70003: The emulator supports the client_credentials grant only; "
                          "use `fabric-resources emulator token --user UPN` for user tokens.", 70003)

    async def _token(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not self._tenant_ok(tenant):
            return _tenant_not_found(tenant)
        body = (await request.body()).decode("utf-8", "replace")
        form = _parse_form(body)
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic is not None:
            client_id = client_id or basic[0]
            secret = secret or basic[1]
        grant = form.get("grant_type", "")
        if not grant:
            return _aad_error(400, "invalid_request",
                              "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
                              900144)
        if grant != "client_credentials":
            return _aad_error(400, "unsupported_grant_type",
                              f"AADSTS70003: The app requested an unsupported grant type '{grant[:64]}'.", 70003)
        if not client_id:
            return _aad_error(400, "invalid_request",
                              "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
                              900144)
        principal = self.find_principal(client_id=client_id)
        if principal is None or principal.kind != "ServicePrincipal":
            return _aad_error(400, "unauthorized_client",
                              f"AADSTS700016: Application with identifier '{client_id[:64]}' was not found "
                              f"in the directory '{self.tenant_id}'.", 700016)
        if not secret:
            return _aad_error(401, "invalid_client",
                              "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required "
                              "for the 'client_credentials' grant type.", 7000216)
        if not self.check_client_secret(principal.client_id or client_id, secret):
            return _aad_error(401, "invalid_client",
                              "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "
                              f"in the request is the client secret value, not the client secret ID, for a "
                              f"secret added to app '{principal.client_id}'.", 7000215)
        scopes = form.get("scope", "").split()
        if scopes != [FABRIC_DEFAULT_SCOPE]:
            return _aad_error(400, "invalid_scope",
                              f"AADSTS1002012: The provided value for scope {' '.join(scopes)[:200]!r} is not "
                              f"valid. Client credential flows must have a scope value with /.default suffixed "
                              f"to the resource identifier: {FABRIC_DEFAULT_SCOPE}.", 1002012)
        lifetime = self.token_lifetime()
        # The issuer names the origin the client used, matching the OpenID configuration it read.
        token = self.issue_token(principal, lifetime_seconds=lifetime,
                                 issuer=self._issuer_for(self._request_origin(request)))
        return JSONResponse(
            {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token},
            headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )


# -- helpers ---------------------------------------------------------------------------------------

def _new_identity_info() -> dict[str, Any]:
    def sp(name: str) -> dict[str, Any]:
        return {"kind": "ServicePrincipal", "object_id": str(uuid.uuid4()), "display_name": name,
                "client_id": str(uuid.uuid4()), "client_secret": secrets.token_urlsafe(32)}

    def user(upn: str, name: str) -> dict[str, Any]:
        return {"kind": "User", "object_id": str(uuid.uuid4()), "display_name": name,
                "user_principal_name": upn}

    return {
        "tenant_id": str(uuid.uuid4()),
        "principals": [
            sp("fabric-deployer"),          # the default deployer (first service principal)
            sp("fabric-reporting-app"),     # a stranger to the deployer's workspaces
            user("ada@fabric-emulator.example", "Ada Lovelace"),
            user("grace@fabric-emulator.example", "Grace Hopper"),
        ],
    }


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _key_id(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 thumbprint of the RSA key: stable across restarts, changes only with the key."""
    numbers = public_key.public_numbers()
    canonical = json.dumps({"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
                           separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _parse_form(body: str) -> dict[str, str]:
    """application/x-www-form-urlencoded without python-multipart (not a dependency)."""
    out: dict[str, str] = {}
    for pair in body.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        out.setdefault(unquote_plus(key), unquote_plus(value))
    return out


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 2.3.1: both halves are form-encoded before being joined.
    return unquote_plus(user), unquote_plus(password)


def _aad_error(status: int, error: str, description: str, code: int) -> JSONResponse:
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    timestamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return JSONResponse(
        {
            "error": error,
            "error_description": f"{description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}"
                                 f"\r\nTimestamp: {timestamp}",
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        },
        status_code=status,
    )


def _tenant_not_found(tenant: str) -> JSONResponse:
    return _aad_error(400, "invalid_tenant",
                      f"AADSTS90002: Tenant '{tenant[:64]}' not found. Check to make sure you have the "
                      f"correct tenant ID and are signing into the correct cloud.", 90002)
