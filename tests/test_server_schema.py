"""A schemathesis run over the service's own OpenAPI schema, against the real process:
every operation, a handful of generated requests each, with the token; every answer must
match the schema (status code, content type, body) and none may be a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from server_fixtures import Server

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    srv = Server(tmp_path_factory.mktemp("schema"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api_schema(server: Server) -> schemathesis.BaseSchema:
    schemathesis.experimental.OPEN_API_3_1.enable()  # FastAPI writes OpenAPI 3.1
    return schemathesis.from_uri(
        server.base + "/openapi.json",
        base_url=f"http://127.0.0.1:{server.port}",
    )


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_schema(case: schemathesis.Case, server: Server) -> None:
    # On the case (not as call() arguments), so that the ignored_auth check can take it
    # away again and see a 401.
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {server.token}"}
    response = case.call(timeout=60)
    case.validate_response(response)
    assert server.proc.poll() is None
