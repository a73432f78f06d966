"""exchange_token against a respx-faked Keycloak token endpoint: request and error mapping."""

import base64
import logging
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from hubbroker.errors import BrokerError
from hubbroker.exchange import exchange_token

TOKEN_URL = "http://keycloak.test:8080/realms/demo/protocol/openid-connect/token"
SUBJECT = "SUBJECT-ACCESS-TOKEN-of-alice"
CLIENT_SECRET = "hub-client-SECRET"


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def keycloak():
    with respx.mock(assert_all_called=False) as router:
        yield router.post(TOKEN_URL)


def assert_no_url(error: BrokerError) -> None:
    """Notebook users see the message: never the hub's back-channel address (issue 9)."""
    for text in (error.message, str(error), repr(error.to_json())):
        assert "http" not in text and "://" not in text, text  # ("HTTP 502" may stay)
        assert "keycloak.test" not in text and "8080" not in text, text


async def call(http, scopes=("fruits:read", "fruits:write")):
    return await exchange_token(
        http, TOKEN_URL, "jupyterhub", CLIENT_SECRET, SUBJECT, "fruit-api", scopes
    )


async def refused(http, keycloak, status, body=None, **kwargs):
    if body is None:
        keycloak.respond(status, **kwargs)
    else:
        keycloak.respond(status, json=body)
    with pytest.raises(BrokerError) as info:
        await call(http)
    assert keycloak.call_count == 1
    error = info.value
    assert SUBJECT not in error.message
    assert CLIENT_SECRET not in error.message
    return error


async def test_sends_the_standard_token_exchange_form_with_basic_client_auth(http, keycloak):
    body = {"access_token": "minted", "expires_in": 300, "scope": "fruits:read fruits:write"}
    keycloak.respond(200, json=body)
    assert await call(http) == body
    request = keycloak.calls.last.request
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.content.decode(), keep_blank_values=True, strict_parsing=True)
    assert form == {
        "grant_type": ["urn:ietf:params:oauth:grant-type:token-exchange"],
        "subject_token": [SUBJECT],
        "subject_token_type": ["urn:ietf:params:oauth:token-type:access_token"],
        "requested_token_type": ["urn:ietf:params:oauth:token-type:access_token"],
        "audience": ["fruit-api"],
        "scope": ["fruits:read fruits:write"],
    }
    expected = base64.b64encode(f"jupyterhub:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert "client_secret" not in form


async def test_200_without_access_token_is_idp_unavailable(http, keycloak):
    error = await refused(http, keycloak, 200, {"token_type": "Bearer"})
    assert error.code == "idp_unavailable"


async def test_audience_not_available_means_scope_not_allowed(http, keycloak):
    error = await refused(
        http,
        keycloak,
        400,
        {
            "error": "invalid_request",
            "error_description": "Requested audience not available: fruit-api",
        },
    )
    assert error.code == "scope_not_allowed"
    assert "fruits:read fruits:write" in error.message
    assert "fruit-api" in error.message


@pytest.mark.parametrize("code", ["invalid_token", "invalid_grant"])
async def test_rejected_subject_token_means_login_required(http, keycloak, code):
    error = await refused(
        http, keycloak, 400, {"error": code, "error_description": "Invalid token"}
    )
    assert error.code == "login_required"
    assert error.status == 401
    assert "log in" in error.message


async def test_401_means_login_required(http, keycloak):
    error = await refused(
        http, keycloak, 401, {"error": "invalid_request", "error_description": "Token not active"}
    )
    assert error.code == "login_required"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_mean_idp_unavailable(http, keycloak, status):
    error = await refused(http, keycloak, status, {"error": "unknown_error"})
    assert error.code == "idp_unavailable"
    assert error.status == 503
    assert str(status) in error.message


async def test_error_without_json_body_is_idp_unavailable(http, keycloak):
    error = await refused(http, keycloak, 400, text="<html>Bad Gateway</html>")
    assert error.code == "idp_unavailable"


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ReadTimeout])
async def test_connection_error_is_idp_unavailable_without_the_subject_token(http, keycloak, exc):
    keycloak.side_effect = exc(f"cannot connect while sending {SUBJECT}")
    with pytest.raises(BrokerError) as info:
        await call(http)
    error = info.value
    assert error.code == "idp_unavailable"
    assert "Keycloak could not be reached" in error.message
    assert_no_url(error)
    assert exc.__name__ in error.message
    assert SUBJECT not in error.message
    assert SUBJECT not in str(error)
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.parametrize("code", ["invalid_client", "unauthorized_client"])
async def test_400_client_refused_points_at_the_hubs_client_config(http, keycloak, code):
    error = await refused(
        http, keycloak, 400, {"error": code, "error_description": "Invalid client credentials"}
    )
    assert error.code == "idp_unavailable"
    assert "client id and secret" in error.message
    assert "hub admin" in error.message


@pytest.mark.parametrize("code", ["invalid_client", "unauthorized_client"])
async def test_401_client_refused_points_at_the_hubs_client_config(http, keycloak, code):
    # Keycloak answers a wrong client secret with HTTP 401 (RFC 6749 5.2 allows 401 for
    # invalid_client). That is the hub's misconfiguration, not the user's ended session:
    # telling the user to log in again would send them in circles.
    error = await refused(
        http, keycloak, 401, {"error": code, "error_description": "Invalid client credentials"}
    )
    assert error.code == "idp_unavailable"
    assert "client id and secret" in error.message


async def test_other_400_is_invalid_request_with_keycloaks_reason(http, keycloak):
    error = await refused(
        http,
        keycloak,
        400,
        {"error": "invalid_scope", "error_description": "Invalid scopes: fruits:bogus"},
    )
    assert error.code == "invalid_request"
    assert "invalid_scope" in error.message
    assert "Invalid scopes: fruits:bogus" in error.message


# --- no internal URL in what a notebook user sees (issue 9) ----------------------------------


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout])
async def test_unreachable_keycloak_is_named_not_its_url(http, keycloak, exc, caplog):
    keycloak.side_effect = exc(f"[Errno -2] cannot connect to {TOKEN_URL}")
    with caplog.at_level(logging.WARNING, logger="hubbroker"):
        with pytest.raises(BrokerError) as info:
            await call(http)
    assert info.value.code == "idp_unavailable"
    assert info.value.message.startswith("Keycloak could not be reached")
    assert_no_url(info.value)
    assert TOKEN_URL in caplog.text  # the hub's log keeps the URL for the admin


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_keycloak_5xx_message_has_no_url(http, keycloak, status, caplog):
    with caplog.at_level(logging.WARNING, logger="hubbroker"):
        error = await refused(
            http, keycloak, status, text=f"<html>upstream {TOKEN_URL} failed</html>"
        )
    assert error.code == "idp_unavailable"
    assert f"HTTP {status}" in error.message
    assert_no_url(error)
    assert TOKEN_URL in caplog.text


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize(
    "content",
    [f"<html>{TOKEN_URL}</html>".encode(), b"not json", b'["http://keycloak.test:8080/"]'],
    ids=["html", "text", "json-list"],
)
async def test_keycloak_bad_json_message_has_no_url(http, keycloak, status, content):
    keycloak.respond(status, content=content)
    with pytest.raises(BrokerError) as info:
        await call(http)
    assert info.value.code == "idp_unavailable"
    assert_no_url(info.value)


@pytest.mark.parametrize(
    ("error", "expected_code"),
    [
        ("invalid_token", "login_required"),
        ("invalid_grant", "login_required"),
        ("invalid_request", "invalid_request"),
        ("invalid_client", "idp_unavailable"),
    ],
)
async def test_keycloaks_reason_is_quoted_without_its_urls(http, keycloak, error, expected_code):
    """Keycloak's error_description may name its own back-channel URL (e.g. the issuer it
    expected): the reason is quoted, the URL is not."""
    description = "Invalid token issuer. Expected 'http://keycloak.test:8080/realms/demo'"
    error_ = await refused(http, keycloak, 400, {"error": error, "error_description": description})
    assert error_.code == expected_code
    assert_no_url(error_)
    if expected_code != "idp_unavailable":
        assert "Invalid token issuer. Expected '<Keycloak URL>'" in error_.message
