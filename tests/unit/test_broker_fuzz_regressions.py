"""Inputs that the broker's fuzzing (tests/fuzz/test_broker_inputs.py) found answered wrongly,
each pinned here with the concrete input (and kept there as an explicit @example)."""

import json

import pytest
from tornado.httpclient import AsyncHTTPClient

from hubbroker.errors import BrokerError
from hubbroker.handlers import parse_request
from tests.support.broker_handler import error_of, hub, post  # noqa: F401 (hub: fixture)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

#: 2 KB that json.loads cannot read without a RecursionError (one C recursion per level):
#: it escaped ``parse_request``'s ``except ValueError`` and the hub answered 500.
DEEP_ARRAY = b"[" * 1000 + b"]" * 1000
DEEP_SCOPE = b'{"audience": "fruit-api", "scope": ' + DEEP_ARRAY + b"}"
DEEP_MIXED = b'{"":[' * 500 + b"0" + b"]}" * 500  # 1000 levels in 4001 bytes


@pytest.mark.parametrize(
    "raw", [DEEP_ARRAY, DEEP_SCOPE, DEEP_MIXED], ids=["array", "scope", "mixed"]
)
def test_parse_request_refuses_deep_nesting_as_invalid_request(raw):
    with pytest.raises(BrokerError) as info:
        parse_request(raw)
    assert (info.value.code, info.value.status) == ("invalid_request", 400)
    assert "nested too deeply" in info.value.message


@pytest.mark.parametrize(
    "raw", [DEEP_ARRAY, DEEP_SCOPE, DEEP_MIXED], ids=["array", "scope", "mixed"]
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_deeply_nested_body_is_400_not_500(hub, raw, chunked):  # noqa: F811
    assert len(raw) <= 4096  # within the body limit: it reaches the parser
    response = await post(hub, raw, {"Content-Type": "application/json"}, chunked=chunked)
    assert response.code == 400
    body = error_of(response)
    assert body["error"] == "invalid_request" and "nested too deeply" in body["message"]
    assert json.loads(response.body) == body


#: A conditional GET: tornado's default ETag matched "*" and the listing was answered 304
#: with no body (not JSON; the client raises on any status but 200).
async def test_a_conditional_get_gets_the_listing_not_a_bodyless_304(hub):  # noqa: F811
    response = await AsyncHTTPClient().fetch(hub, headers={"If-None-Match": "*"}, raise_error=False)
    assert response.code == 200
    assert set(json.loads(response.body)["audiences"]) == {"fruit-api"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Etag" not in response.headers
