"""Property-based run against the live OpenAPI spec: no request makes the server fail.

Bounded and deterministic: 20 examples per operation, derandomised, over the
tiny workspace on a real uvicorn server; once anonymous, once with an admin key.
"""

from __future__ import annotations

import pytest
import schemathesis
from api_helpers import KEYS, running_server, write_keys
from conftest import tiny_layers
from hypothesis import HealthCheck, given, settings

from gridmap.api import Settings
from gridmap.workspace import store as io


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    d = tmp_path_factory.mktemp("st")
    path = d / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    keys = write_keys(d / "keys.toml", ["G1"], ["G2", "G3"])
    with running_server(Settings(workspace=path, keys_file=keys, max_limit=100)) as (base, _):
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")


def _check(case, headers: dict) -> None:
    response = case.call(headers=headers, timeout=60)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert body["error"] and body["message"]


BOUNDED = settings(
    max_examples=20,
    derandomize=True,
    database=None,  # write nothing into the repo tree
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _operations(api_schema) -> list:
    ops = [result.ok() for result in api_schema.get_all_operations()]
    assert len(ops) >= 10
    return ops


def _runner(op, headers: dict, seen: list):
    @BOUNDED
    @given(case=op.as_strategy())
    def run(case):
        _check(case, headers)
        seen.append(op.label)

    return run


@pytest.mark.slow
@pytest.mark.parametrize("role", ["anonymous", "admin"])
def test_no_server_errors(api_schema, role):
    headers = {"X-API-Key": KEYS["admin"]} if role == "admin" else {}
    seen: list[str] = []
    for op in _operations(api_schema):
        _runner(op, headers, seen)()
    assert len(set(seen)) >= 10
    assert len(seen) >= 100  # the example budget was really spent
    print(f"{role}: {len(seen)} requests over {len(set(seen))} operations")
