"""Error codes map to exceptions whose messages say what to do."""

import pytest

import hubtokens
from hubtokens import errors
from tests.support.contract import BROKER_ERRORS


@pytest.mark.parametrize(("code", "status", "cls"), BROKER_ERRORS)
def test_each_code_maps_to_its_exception(code, status, cls):
    assert errors.ERROR_STATUS[code] == status
    exc = errors.error_from_response(status, {"error": code, "message": f"broker says {code}"})
    assert type(exc) is cls
    assert isinstance(exc, hubtokens.HubTokensError)
    assert (exc.code, exc.status, exc.message) == (code, status, f"broker says {code}")
    assert f"broker says {code}" in str(exc)
    assert cls.hint and cls.hint in str(exc)  # what to do


def test_error_status_lists_exactly_the_contract_codes():
    assert errors.ERROR_STATUS == {
        "invalid_request": 400,
        "login_required": 401,
        "forbidden": 403,
        "audience_not_allowed": 403,
        "scope_not_allowed": 403,
        "not_granted_to_job": 403,
        "grant_ended": 401,
        "request_too_large": 413,
        "rate_limited": 429,
        "idp_unavailable": 503,
        "hub_unavailable": 503,
    }


def test_rate_limited_carries_retry_after_and_says_when_to_retry():
    body = {"error": "rate_limited", "message": "too many new tokens: retry in 7 s."}
    exc = errors.error_from_response(429, body, "7")
    assert isinstance(exc, errors.RateLimited)
    assert exc.retry_after == 7
    assert "retry in 7 s" in str(exc)
    assert "Reuse tokens" in str(exc)
    bare = errors.error_from_response(429, {"error": "rate_limited"}, "12")
    assert bare.retry_after == 12
    assert "Retry in 12 s" in str(bare)  # the client says when, even without a message
    for header in (None, "soon", "Wed, 21 Oct 2026 07:28:00 GMT"):
        exc = errors.error_from_response(429, {"error": "rate_limited"}, header)
        assert exc.retry_after is None
        assert exc.message == errors.RateLimited.default_message


def test_request_too_large_says_what_to_send():
    exc = errors.error_from_response(413, {"error": "request_too_large", "message": "too big"})
    assert isinstance(exc, errors.RequestTooLarge)
    assert "audience" in str(exc) and "scopes" in str(exc)


def test_login_required_tells_the_user_to_log_in_again():
    exc = errors.error_from_response(
        401, b'{"error": "login_required", "message": "Session ended."}'
    )
    assert isinstance(exc, hubtokens.LoginRequired)
    assert "Log in again at the hub (File > Log Out, then log in)" in str(exc)
    assert "re-run" in str(exc)


def test_default_message_when_broker_sends_none():
    exc = errors.error_from_response(503, {"error": "idp_unavailable"})
    assert exc.message == hubtokens.IdpUnavailable.default_message


def test_unknown_code_gives_base_error_with_code_and_status():
    exc = errors.error_from_response(418, {"error": "teapot", "message": "I am a teapot."})
    assert type(exc) is hubtokens.HubTokensError
    assert (exc.code, exc.status, exc.message) == ("teapot", 418, "I am a teapot.")


def test_non_json_body_gives_base_error_with_status():
    exc = errors.error_from_response(502, b"<html>Bad Gateway</html>")
    assert type(exc) is hubtokens.HubTokensError
    assert exc.status == 502
    assert "502" in str(exc) and "not JSON" in str(exc)


def test_json_without_error_code_gives_base_error():
    exc = errors.error_from_response(500, {"detail": "oops"})
    assert type(exc) is hubtokens.HubTokensError and exc.status == 500


def test_not_in_jupyterhub_message():
    assert str(hubtokens.NotInJupyterHub()) == (
        "JUPYTERHUB_API_URL/JUPYTERHUB_API_TOKEN are not set: "
        "run this inside a notebook server started by JupyterHub, "
        "or log in from this machine first: hubtokens login --issuer <Keycloak realm URL> SCOPE..."
    )


def test_ipython_shows_a_message_not_a_traceback():
    lines = hubtokens.ScopeNotAllowed("fruits:write is not granted to alice.")._render_traceback_()
    assert lines == [
        f"ScopeNotAllowed: fruits:write is not granted to alice. {hubtokens.ScopeNotAllowed.hint}"
    ]


def test_errors_module_does_not_import_http_libraries():
    source = open(errors.__file__, encoding="utf-8").read()
    assert "import httpx" not in source and "import requests" not in source
