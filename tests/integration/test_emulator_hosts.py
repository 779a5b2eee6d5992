"""The emulator reached as ``https://localhost:PORT`` (it was started, and announces itself, as 127.0.0.1).

Every absolute URL it hands out -- Location headers, continuationUri, long-running operation
Locations, the authority's OpenID configuration and instance discovery -- must name the host the
client dialled: our client and MSAL refuse to send credentials to any other host. These tests
drive the real client configured through the environment (FABRIC_API_URL / FABRIC_AUTHORITY on
localhost) and real MSAL, over the emulator's TLS certificate (valid for localhost).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import jwt
import msal
import pytest
import requests

from fabric_resources.client import FabricClient
from fabric_resources.models import ItemDefinition
from fabric_resources.settings import FabricSettings
from tests.conftest import EmulatorProcess
from tests.integration.test_emulator_identity import RecordingSession

pytestmark = pytest.mark.timeout(120)

FABRIC_SCOPE = "https://api.fabric.microsoft.com/.default"


def _on_localhost(url: str) -> str:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", url  # what emulator.json announces
    return parts._replace(netloc=f"localhost:{parts.port}").geturl()


@pytest.fixture
def local_env(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> EmulatorProcess:
    """The default service principal, with the API and the authority named as localhost."""
    sp = emulator.default_sp
    monkeypatch.setenv("FABRIC_API_URL", _on_localhost(emulator.api_url))
    monkeypatch.setenv("FABRIC_AUTHORITY", _on_localhost(emulator.authority))
    monkeypatch.setenv("FABRIC_CA_BUNDLE", emulator.ca_cert)
    monkeypatch.setenv("AZURE_TENANT_ID", emulator.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", sp["client_id"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", sp["client_secret"])
    monkeypatch.delenv("FABRIC_EMULATOR_DIR", raising=False)
    monkeypatch.delenv("FABRIC_TOKEN", raising=False)
    return emulator


@pytest.fixture
def client(local_env: EmulatorProcess) -> Iterator[FabricClient]:
    settings = FabricSettings.from_env()
    assert urlsplit(settings.api_url or "").hostname == "localhost"
    with FabricClient(settings) as c:
        yield c


def test_client_token_through_localhost_authority(client: FabricClient, local_env: EmulatorProcess) -> None:
    # The client's MSAL session may only talk to the authority's host (localhost): the OpenID
    # configuration must therefore name localhost endpoints for the token request to happen at all.
    token = client.auth.token()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["tid"] == local_env.tenant_id and claims["appid"] == local_env.default_sp["client_id"]
    assert urlsplit(claims["iss"]).hostname == "localhost"
    assert client.capacities.list()


def test_paging_through_localhost(client: FabricClient, workspace: str, local_env: EmulatorProcess) -> None:
    names = {f"page-{n}-{uuid.uuid4().hex[:6]}" for n in range(3)}
    for display in names:
        client.items.create(workspace, display_name=display, type="DataPipeline")
    with local_env.config(page_size=1):
        local_env.reset_stats()
        listed = {i.display_name for i in client.items.list(workspace)}
        pages = local_env.stats()["by_route"]["GET /v1/workspaces/{workspaceId}/items"]
        # The continuationUri itself names localhost.
        raw = requests.get(f"{client.transport.api_url}workspaces/{workspace}/items",
                           headers={"Authorization": f"Bearer {client.auth.token()}"},
                           verify=local_env.ca_cert, timeout=30).json()
    assert listed == names
    assert pages == 3  # followed two continuationUris: the answer really was paged
    assert urlsplit(raw["continuationUri"]).hostname == "localhost"


def test_created_location_and_lro_through_localhost(client: FabricClient, workspace: str,
                                                    local_env: EmulatorProcess) -> None:
    definition = ItemDefinition.from_files({"pipeline-content.json": {"properties": {"activities": []}}})
    with local_env.config(lro_mode="always"):
        local_env.reset_stats()
        item = client.items.create(workspace, display_name=f"lro-{uuid.uuid4().hex[:8]}", type="DataPipeline",
                                   definition=definition)
        by_route = local_env.stats()["by_route"]
    assert client.items.get(workspace, item.id).display_name == item.display_name
    # The item came through the operation's Location (on localhost), not a lookup by name.
    assert by_route.get("GET /v1/operations/{operationId}", 0) >= 1
    assert by_route.get("GET /v1/operations/{operationId}/result", 0) == 1
    assert by_route.get("GET /v1/workspaces/{workspaceId}/items", 0) == 0

    # A synchronous create's Location header names localhost too.
    resp = requests.post(f"{client.transport.api_url}workspaces/{workspace}/items",
                         json={"displayName": f"loc-{uuid.uuid4().hex[:8]}", "type": "DataPipeline"},
                         headers={"Authorization": f"Bearer {client.auth.token()}"},
                         verify=local_env.ca_cert, timeout=30)
    assert resp.status_code == 201, resp.text
    assert urlsplit(resp.headers["Location"]).hostname == "localhost"


def test_msal_with_instance_discovery_stays_on_localhost(local_env: EmulatorProcess) -> None:
    authority = _on_localhost(local_env.authority)
    origin = authority.rsplit("/", 1)[0]
    session = RecordingSession(local_env.ca_cert)
    sp = local_env.default_sp
    app = msal.ConfidentialClientApplication(
        sp["client_id"], client_credential=sp["client_secret"], authority=authority, http_client=session,
        instance_discovery=f"{origin}/common/discovery/instance",
    )
    result = app.acquire_token_for_client([FABRIC_SCOPE])
    assert "access_token" in result, result
    urls = [call.split(" ", 1)[1] for call in session.calls]  # each call is "METHOD url"
    assert len(urls) == 3  # instance discovery, OpenID configuration, token endpoint
    assert all(urlsplit(url).hostname == "localhost" for url in urls), session.calls

    config = session.get(f"{authority}/v2.0/.well-known/openid-configuration", timeout=30).json()
    for key in ("token_endpoint", "authorization_endpoint", "jwks_uri", "device_authorization_endpoint"):
        assert config[key].startswith(f"{origin}/"), (key, config[key])
    assert config["issuer"] == f"{authority}/v2.0"
    discovery = session.get(f"{origin}/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": f"https://localhost/{local_env.tenant_id}/oauth2/v2.0/authorize"},
        timeout=30).json()
    assert urlsplit(discovery["tenant_discovery_endpoint"]).hostname == "localhost"
    assert discovery["metadata"][0]["preferred_network"] == urlsplit(origin).netloc

    # The token verifies against the JWKS the localhost configuration names, with its issuer.
    jwks = session.get(config["jwks_uri"], timeout=30).json()
    kid = jwt.get_unverified_header(result["access_token"])["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid].key
    jwt.decode(result["access_token"], key, algorithms=["RS256"], audience="https://api.fabric.microsoft.com",
               issuer=config["issuer"])
    # ... and the API accepts it whichever loopback name it is then sent to.
    for api_url in (_on_localhost(local_env.api_url), local_env.api_url):
        resp = session.get(f"{api_url}/capacities", headers={"Authorization": f"Bearer {result['access_token']}"},
                           timeout=30)
        assert resp.status_code == 200, resp.text


def test_junk_host_header_falls_back_to_the_announced_origin(local_env: EmulatorProcess) -> None:
    # A Host header that is no host name (here with a path) is not echoed into URLs.
    api = local_env.session()
    with local_env.config(page_size=1):
        ws = api.post(f"{local_env.api_url}/workspaces", json={"displayName": f"junk-{uuid.uuid4().hex[:8]}"},
                      timeout=30)
        assert ws.status_code == 201, ws.text
        try:
            for n in range(2):
                api.post(f"{local_env.api_url}/workspaces/{ws.json()['id']}/items",
                         json={"displayName": f"j{n}", "type": "DataPipeline"}, timeout=30)
            page = api.get(f"{local_env.api_url}/workspaces/{ws.json()['id']}/items",
                           headers={"Host": "evil.example:443/x"}, timeout=30)
            assert page.status_code == 200, page.text
            assert page.json()["continuationUri"].startswith(local_env.base_url + "/")
        finally:
            api.delete(f"{local_env.api_url}/workspaces/{ws.json()['id']}", timeout=30)
