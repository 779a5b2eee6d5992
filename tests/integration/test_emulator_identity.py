"""The emulator's identity over real HTTPS: MSAL flows, token shape, 401s, persistence, CLI tokens."""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import msal
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import REPO_ROOT, EmulatorProcess

FABRIC_SCOPE = "https://api.fabric.microsoft.com/.default"


class RecordingSession(requests.Session):
    """A real session trusting the emulator CA that remembers which URLs MSAL called."""

    def __init__(self, ca_cert: str) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = ca_cert
        self.calls: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls.append(f"{method!s} {url!s}".split("?")[0])
        return super().request(method, url, *args, **kwargs)


def _origin(emulator: EmulatorProcess) -> str:
    return emulator.authority.rsplit("/", 1)[0]


def _app(emulator: EmulatorProcess, http_client: requests.Session | None = None, secret: str | None = None,
         client_id: str | None = None, **kwargs: Any) -> msal.ConfidentialClientApplication:
    sp = emulator.default_sp
    return msal.ConfidentialClientApplication(
        client_id or sp["client_id"],
        client_credential=sp["client_secret"] if secret is None else secret,
        authority=emulator.authority,
        http_client=http_client,
        **kwargs,
    )


def _assert_error_response(resp: requests.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body.get("errorCode"), str) and body["errorCode"]
    assert isinstance(body.get("message"), str) and body["message"]
    assert isinstance(body.get("requestId"), str) and body["requestId"]
    return body


# -- MSAL against the emulator's authority -----------------------------------------------------------

def test_msal_client_credentials_with_instance_discovery_url(emulator: EmulatorProcess) -> None:
    session = RecordingSession(emulator.ca_cert)
    app = _app(emulator, session, instance_discovery=f"{_origin(emulator)}/common/discovery/instance")
    result = app.acquire_token_for_client([FABRIC_SCOPE])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] > 60
    # MSAL asked our instance discovery (validate_authority defaults to True), then the tenant's
    # OpenID configuration, then the token endpoint named there: nothing left the emulator.
    tenant = emulator.tenant_id
    origin = _origin(emulator)
    assert session.calls == [
        f"GET {origin}/common/discovery/instance",
        f"GET {origin}/{tenant}/v2.0/.well-known/openid-configuration",
        f"POST {origin}/{tenant}/oauth2/v2.0/token",
    ]
    api = emulator.session(result["access_token"])
    assert api.get(f"{emulator.api_url}/workspaces", timeout=30).status_code == 200
    # The second request is answered from MSAL's cache, as against the real service.
    again = app.acquire_token_for_client([FABRIC_SCOPE])
    assert again["access_token"] == result["access_token"]
    assert again.get("token_source") == "cache"


def test_msal_without_instance_discovery(emulator: EmulatorProcess) -> None:
    session = RecordingSession(emulator.ca_cert)
    result = _app(emulator, session, instance_discovery=False).acquire_token_for_client([FABRIC_SCOPE])
    assert "access_token" in result, result
    assert not any("discovery/instance" in call for call in session.calls)


def test_msal_validate_authority_false_skips_instance_discovery(emulator: EmulatorProcess) -> None:
    session = RecordingSession(emulator.ca_cert)
    result = _app(emulator, session, validate_authority=False).acquire_token_for_client([FABRIC_SCOPE])
    assert "access_token" in result, result
    assert not any("discovery/instance" in call for call in session.calls)


def test_msal_trusts_ca_through_requests_ca_bundle(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_cert)
    # No http_client: MSAL builds its own requests.Session, which honours REQUESTS_CA_BUNDLE.
    app = _app(emulator, instance_discovery=f"{_origin(emulator)}/common/discovery/instance")
    result = app.acquire_token_for_client([FABRIC_SCOPE])
    assert "access_token" in result, result


@pytest.mark.filterwarnings("ignore:Using /common or /organizations authority:DeprecationWarning")
def test_msal_organizations_authority(emulator: EmulatorProcess) -> None:
    session = RecordingSession(emulator.ca_cert)
    app = msal.ConfidentialClientApplication(
        emulator.default_sp["client_id"], client_credential=emulator.default_sp["client_secret"],
        authority=f"{_origin(emulator)}/organizations", http_client=session, instance_discovery=False)
    result = app.acquire_token_for_client([FABRIC_SCOPE])
    assert "access_token" in result, result
    assert jwt.decode(result["access_token"], options={"verify_signature": False})["tid"] == emulator.tenant_id


def test_msal_wrong_secret_returns_entra_error(emulator: EmulatorProcess) -> None:
    session = RecordingSession(emulator.ca_cert)
    result = _app(emulator, session, secret="not-the-secret", instance_discovery=False).acquire_token_for_client(
        [FABRIC_SCOPE])
    assert "access_token" not in result
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert "not-the-secret" not in json.dumps(result)
    assert emulator.default_sp["client_secret"] not in json.dumps(result)


def test_msal_unknown_client_returns_unauthorized_client(emulator: EmulatorProcess) -> None:
    session = RecordingSession(emulator.ca_cert)
    result = _app(emulator, session, client_id=str(uuid.uuid4()), instance_discovery=False
                  ).acquire_token_for_client([FABRIC_SCOPE])
    assert result["error"] == "unauthorized_client"
    assert 700016 in result["error_codes"]


def test_msal_unknown_tenant_fails_discovery(emulator: EmulatorProcess) -> None:
    session = RecordingSession(emulator.ca_cert)
    with pytest.raises(ValueError):
        msal.ConfidentialClientApplication(
            emulator.default_sp["client_id"], client_credential=emulator.default_sp["client_secret"],
            authority=f"{_origin(emulator)}/{uuid.uuid4()}", http_client=session, instance_discovery=False)


def test_token_endpoint_rejects_wrong_scope_and_grant(emulator: EmulatorProcess) -> None:
    session = emulator.session("")
    url = f"{emulator.authority}/oauth2/v2.0/token"
    sp = emulator.default_sp
    form = {"grant_type": "client_credentials", "client_id": sp["client_id"], "client_secret": sp["client_secret"]}
    resp = session.post(url, data={**form, "scope": "https://management.azure.com/.default"}, timeout=30)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"
    resp = session.post(url, data={**form, "grant_type": "password", "scope": FABRIC_SCOPE}, timeout=30)
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"
    # client_secret_basic, the other standard way to present the secret, is accepted too.
    resp = session.post(url, data={"grant_type": "client_credentials", "scope": FABRIC_SCOPE},
                        auth=(sp["client_id"], sp["client_secret"]), timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] > 0


def test_instance_discovery_answers_like_entra(emulator: EmulatorProcess) -> None:
    session = emulator.session("")
    origin = _origin(emulator)
    netloc = origin.split("://", 1)[1]
    resp = session.get(f"{origin}/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": f"https://127.0.0.1/{emulator.tenant_id}/oauth2/v2.0/authorize"},
        timeout=30)
    assert resp.status_code == 200
    body = resp.json()
    assert body["tenant_discovery_endpoint"] == f"{origin}/{emulator.tenant_id}/v2.0/.well-known/openid-configuration"
    assert body["metadata"][0]["preferred_network"] == netloc
    assert netloc in body["metadata"][0]["aliases"]
    foreign = session.get(f"{origin}/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": "https://elsewhere.example/x/oauth2/v2.0/authorize"},
        timeout=30)
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_instance"


def test_openid_configuration_endpoints_are_absolute_on_the_emulator(emulator: EmulatorProcess) -> None:
    session = emulator.session("")
    origin = _origin(emulator)
    config = session.get(f"{emulator.authority}/v2.0/.well-known/openid-configuration", timeout=30).json()
    for key in ("token_endpoint", "authorization_endpoint", "jwks_uri", "device_authorization_endpoint"):
        assert config[key].startswith(f"{origin}/"), (key, config[key])
    assert config["issuer"] == f"{emulator.authority}/v2.0"


# -- token contents ------------------------------------------------------------------------------------

def _verify_with_jwks(emulator: EmulatorProcess, token: str) -> dict[str, Any]:
    session = emulator.session("")
    config = session.get(f"{emulator.authority}/v2.0/.well-known/openid-configuration", timeout=30).json()
    jwks = session.get(config["jwks_uri"], timeout=30).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid].key
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], audience="https://api.fabric.microsoft.com",
                                        issuer=config["issuer"])
    return claims


def test_service_principal_token_claims(emulator: EmulatorProcess) -> None:
    sp = emulator.default_sp
    result = _app(emulator, RecordingSession(emulator.ca_cert), instance_discovery=False
                  ).acquire_token_for_client([FABRIC_SCOPE])
    claims = _verify_with_jwks(emulator, result["access_token"])
    assert claims["tid"] == emulator.tenant_id
    assert claims["oid"] == sp["object_id"]
    assert claims["appid"] == sp["client_id"]
    assert isinstance(claims["roles"], list) and claims["roles"]
    assert "upn" not in claims and "scp" not in claims
    assert claims["nbf"] <= time.time() < claims["exp"]
    assert claims["exp"] - claims["iat"] == result["expires_in"]


def test_user_token_claims(emulator: EmulatorProcess) -> None:
    user = emulator.users[0]
    claims = _verify_with_jwks(emulator, emulator.token(upn=user["user_principal_name"]))
    assert claims["oid"] == user["object_id"]
    assert claims["upn"] == user["user_principal_name"]
    assert "Workspace.ReadWrite.All" in claims["scp"].split()
    assert "appid" not in claims and "roles" not in claims


def test_token_lifetime_follows_config(emulator: EmulatorProcess) -> None:
    session = emulator.session("")
    sp = emulator.default_sp
    with emulator.config(token_lifetime_seconds=120):
        resp = session.post(f"{emulator.authority}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": sp["client_id"],
            "client_secret": sp["client_secret"], "scope": FABRIC_SCOPE}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json()["expires_in"] == 120
    claims = jwt.decode(resp.json()["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120


# -- the API refuses what it cannot trust --------------------------------------------------------------

def test_api_without_token_is_401(emulator: EmulatorProcess) -> None:
    resp = emulator.session("").get(f"{emulator.api_url}/workspaces", timeout=30)
    _assert_error_response(resp, 401)


def test_api_with_garbage_token_is_401(emulator: EmulatorProcess) -> None:
    resp = emulator.session("not.a-jwt.at-all").get(f"{emulator.api_url}/workspaces", timeout=30)
    _assert_error_response(resp, 401)


def test_api_with_token_signed_by_another_key_is_401(emulator: EmulatorProcess) -> None:
    genuine = emulator.token()
    claims = jwt.decode(genuine, options={"verify_signature": False})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": jwt.get_unverified_header(genuine)["kid"]})
    resp = emulator.session(forged).get(f"{emulator.api_url}/workspaces", timeout=30)
    _assert_error_response(resp, 401)


def test_api_with_expired_token_is_401(emulator: EmulatorProcess) -> None:
    token = emulator.token(lifetime_seconds=1)
    assert emulator.session(token).get(f"{emulator.api_url}/workspaces", timeout=30).status_code == 200
    time.sleep(2.2)
    resp = emulator.session(token).get(f"{emulator.api_url}/workspaces", timeout=30)
    _assert_error_response(resp, 401)


# -- files, persistence, command line -----------------------------------------------------------------

def test_connection_file_is_private_and_complete(emulator: EmulatorProcess) -> None:
    info_path = emulator.data_dir / "emulator.json"
    assert stat.S_IMODE(info_path.stat().st_mode) == 0o600
    info = json.loads(info_path.read_text())
    assert info["api_url"].startswith("https://127.0.0.1:") and info["api_url"].endswith("/v1")
    assert info["authority"] == info["api_url"][: -len("/v1")] + "/" + info["tenant_id"]
    assert info["admin_url"] == info["api_url"][: -len("/v1")] + "/_emulator"
    assert Path(info["ca_cert"]).is_absolute() and Path(info["ca_cert"]).exists()
    kinds = [p["kind"] for p in info["principals"]]
    assert kinds.count("ServicePrincipal") >= 2 and kinds.count("User") >= 2
    for key in ("signing-key.pem", "identity.json", "certs/ca-key.pem", "certs/server-key.pem"):
        assert stat.S_IMODE((emulator.data_dir / key).stat().st_mode) == 0o600, key


def test_server_certificate_covers_localhost(emulator: EmulatorProcess) -> None:
    port = emulator.api_url.split(":")[2].split("/")[0]
    resp = emulator.session("").get(f"https://localhost:{port}/{emulator.tenant_id}/discovery/v2.0/keys", timeout=30)
    assert resp.status_code == 200 and resp.json()["keys"]


def test_principal_repr_never_shows_secrets(emulator: EmulatorProcess) -> None:
    from fabric_resources.emulator.identity import Identity

    identity = Identity.load_or_create(emulator.data_dir)
    text = repr(identity) + repr(identity.principals)
    for sp in emulator.service_principals:
        assert sp["client_secret"] not in text


def _cli_token(data_dir: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "fabric_resources.emulator", "token", "--data-dir", str(data_dir), *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "FABRIC_EMULATOR_DIR": ""},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_cli_token_for_user_is_accepted(emulator: EmulatorProcess) -> None:
    user = emulator.users[1]
    token = _cli_token(emulator.data_dir, "--user", user["user_principal_name"])
    assert jwt.decode(token, options={"verify_signature": False})["oid"] == user["object_id"]
    assert emulator.session(token).get(f"{emulator.api_url}/workspaces", timeout=30).status_code == 200


def test_project_cli_emulator_group_delegates(emulator: EmulatorProcess) -> None:
    from fabric_resources.cli import emulator_cmd

    parser = argparse.ArgumentParser()
    emulator_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["emulator", "token", "--client-id", emulator.default_sp["client_id"],
                              "--data-dir", str(emulator.data_dir), "--lifetime", "300"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.func(args) == 0
    claims = jwt.decode(out.getvalue().strip(), options={"verify_signature": False})
    assert claims["appid"] == emulator.default_sp["client_id"]
    assert claims["exp"] - claims["iat"] == 300


def test_state_and_tokens_survive_restart(emulator_factory: Any) -> None:
    emu: EmulatorProcess = emulator_factory()
    before = emu.info
    ca_before = Path(emu.ca_cert).read_bytes()
    token = emu.token()
    api = emu.session(token)
    name = f"persist-{uuid.uuid4().hex[:8]}"
    created = api.post(f"{emu.api_url}/workspaces", json={"displayName": name}, timeout=30)
    assert created.status_code == 201, created.text
    workspace_id = created.json()["id"]
    ws_url = f"{emu.api_url}/workspaces/{workspace_id}"
    # An item with its definition, a role assignment and a schedule: everything else the SQLite
    # store holds must come back after a restart too.
    content = {"properties": {"activities": [{"name": "Wait1", "type": "Wait",
                                              "typeProperties": {"waitTimeInSeconds": 1}}]}}
    payload = base64.b64encode(json.dumps(content).encode()).decode()
    item = api.post(f"{ws_url}/items", timeout=30, json={
        "displayName": "persisted-pipeline", "type": "DataPipeline", "definition": {"parts": [
            {"path": "pipeline-content.json", "payload": payload, "payloadType": "InlineBase64"}]}})
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]
    user = emu.users[0]
    role = api.post(f"{ws_url}/roleAssignments", timeout=30,
                    json={"principal": {"id": user["object_id"], "type": "User"}, "role": "Contributor"})
    assert role.status_code == 201, role.text
    schedule_body = {"enabled": True, "configuration": {
        "type": "Cron", "interval": 60, "startDateTime": "2030-01-01T00:00:00",
        "endDateTime": "2030-02-01T00:00:00", "localTimeZoneId": "UTC"}}
    schedule = api.post(f"{ws_url}/items/{item_id}/jobs/Pipeline/schedules", json=schedule_body, timeout=30)
    assert schedule.status_code == 201, schedule.text
    schedule_id = schedule.json()["id"]

    emu.stop()
    assert not (emu.data_dir / "emulator.json").exists()
    # With the emulator down the CLI signs locally with the data dir's key.
    offline_token = _cli_token(emu.data_dir, "--user", emu.users[0]["user_principal_name"])

    emu.start()
    assert emu.tenant_id == before["tenant_id"]
    assert emu.principals == before["principals"]
    assert Path(emu.ca_cert).read_bytes() == ca_before
    fetched = emu.session(token).get(f"{emu.api_url}/workspaces/{workspace_id}", timeout=30)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["displayName"] == name
    assert emu.session(offline_token).get(f"{emu.api_url}/workspaces", timeout=30).status_code == 200

    api = emu.session(token)
    ws_url = f"{emu.api_url}/workspaces/{workspace_id}"  # the port may have changed
    got_item = api.get(f"{ws_url}/items/{item_id}", timeout=30)
    assert got_item.status_code == 200 and got_item.json()["displayName"] == "persisted-pipeline"
    definition = api.post(f"{ws_url}/items/{item_id}/getDefinition", timeout=30)
    assert definition.status_code == 200, definition.text
    parts = {p["path"]: p["payload"] for p in definition.json()["definition"]["parts"]}
    assert parts["pipeline-content.json"] == payload  # stored verbatim
    got_role = api.get(f"{ws_url}/roleAssignments/{user['object_id']}", timeout=30)
    assert got_role.status_code == 200, got_role.text
    assert got_role.json()["role"] == "Contributor" and got_role.json()["principal"]["id"] == user["object_id"]
    # The user's token (signed offline, while the server was down) is honoured with that role.
    assert emu.session(offline_token).get(f"{ws_url}/items/{item_id}", timeout=30).status_code == 200
    got_schedule = api.get(f"{ws_url}/items/{item_id}/jobs/Pipeline/schedules/{schedule_id}", timeout=30)
    assert got_schedule.status_code == 200, got_schedule.text
    assert got_schedule.json()["enabled"] is True
    assert got_schedule.json()["configuration"]["interval"] == 60
    assert got_schedule.json()["configuration"]["type"] == "Cron"


def test_serve_prints_api_url_and_cleans_up_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fabric_resources.emulator", "serve", "--data-dir", str(tmp_path), "--port", "0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first_line = proc.stdout.readline().strip()
        info = json.loads((tmp_path / "emulator.json").read_text())
        assert first_line == info["api_url"]
        assert info["pid"] == proc.pid
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert not (tmp_path / "emulator.json").exists()


def test_certificates_are_kept_and_server_certificate_reissued(tmp_path: Path) -> None:
    from cryptography import x509

    from fabric_resources.emulator.certs import ensure_certificates

    first = ensure_certificates(tmp_path)
    ca_pem, server_pem = first.ca_cert.read_bytes(), first.server_cert.read_bytes()
    again = ensure_certificates(tmp_path)
    assert again.ca_cert.read_bytes() == ca_pem and again.server_cert.read_bytes() == server_pem
    again.server_cert.unlink()
    renewed = ensure_certificates(tmp_path)
    assert renewed.ca_cert.read_bytes() == ca_pem
    assert renewed.server_cert.read_bytes() != server_pem
    ca = x509.load_pem_x509_certificate(ca_pem)
    server = x509.load_pem_x509_certificate(renewed.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    assert "localhost" in san.get_values_for_type(x509.DNSName)


def test_emulator_env_exports_default_service_principal(emulator_env: EmulatorProcess) -> None:
    sp = emulator_env.default_sp
    assert os.environ["FABRIC_API_URL"] == emulator_env.api_url
    assert os.environ["FABRIC_AUTHORITY"] == emulator_env.authority
    assert os.environ["FABRIC_CA_BUNDLE"] == emulator_env.ca_cert
    assert os.environ["AZURE_TENANT_ID"] == emulator_env.tenant_id
    assert os.environ["AZURE_CLIENT_ID"] == sp["client_id"]
    assert os.environ["AZURE_CLIENT_SECRET"] == sp["client_secret"]
