"""Tenant-level objects the emulator offers ready-made: tags and connections.

In Fabric both are made outside the APIs this project deploys with (tags by a tenant admin, connections
in the "Manage connections" page), so a program only ever looks them up. Fixed ids let docs, tests and
the sample stacks name them; the README lists them.
"""

from __future__ import annotations

from typing import Any

#: The tenant's tags (GET /v1/tags). One is domain-scoped, as the spec's example shows.
TAGS: list[dict[str, Any]] = [
    {"id": "e05d3b74-05db-4924-91f9-8f6ef6fe059f", "displayName": "Finance", "scope": {"type": "Tenant"}},
    {"id": "c3db7f2e-be15-4e58-ab49-24f019977bf3", "displayName": "Sales", "scope": {"type": "Tenant"}},
    {"id": "cd22be4a-5763-462e-bb19-335466bc08cf", "displayName": "Certified", "scope": {"type": "Tenant"}},
    {"id": "14505785-54a8-49bf-ac1c-282e8e2db295", "displayName": "Production", "scope": {"type": "Tenant"}},
    {"id": "f6e96bd4-9dd9-4772-aa28-8d0bfddbf372", "displayName": "Nightly", "scope": {"type": "Tenant"}},
    {"id": "1a6f90df-0758-40f5-96de-39430eebb709", "displayName": "Sales EMEA",
     "scope": {"type": "Domain", "domainId": "59a04bf0-92a3-4b7a-a4b7-7787e3b3b894"}},
]
TAG_BY_ID = {t["id"]: t for t in TAGS}


def _connection(cid: str, name: str, kind: str, path: str, connectivity: str = "ShareableCloud",
                credential: str = "Basic", privacy: str = "Organizational") -> dict[str, Any]:
    return {
        "id": cid,
        "displayName": name,
        "connectivityType": connectivity,
        "connectionDetails": {"type": kind, "path": path},
        "privacyLevel": privacy,
        "credentialDetails": {"credentialType": credential, "singleSignOnType": "None",
                              "connectionEncryption": "NotEncrypted", "skipTestConnection": False},
    }


#: The connections every caller can use (GET /v1/connections). Names follow the pattern stacks use:
#: one connection per source and environment.
CONNECTIONS: list[dict[str, Any]] = [
    _connection("6b8396d9-89a2-405b-8267-6671d407c0d4", "Sales SQL (local)", "SQL",
                "sales-local.database.windows.net;sales"),
    _connection("17f1dba1-de85-42bf-9ab0-a43db61f6159", "Sales SQL (test)", "SQL",
                "sales-test.database.windows.net;sales"),
    _connection("b5d7206f-493e-4997-987b-82e33b3da75d", "Sales SQL (prod)", "SQL",
                "sales-prod.database.windows.net;sales"),
    _connection("79edf050-9672-4b94-bf09-24a991026da3", "Sales Lake (prod)", "AzureDataLakeStorage",
                "https://salesprod.dfs.core.windows.net/raw", credential="ServicePrincipal"),
    _connection("f62aa473-f2ba-4caf-bd63-5a381675eccd", "Contoso Web", "Web", "https://www.contoso.com",
                credential="Anonymous", privacy="Public"),
]
CONNECTION_BY_ID = {c["id"]: c for c in CONNECTIONS}
