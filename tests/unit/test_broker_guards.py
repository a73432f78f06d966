"""The broker's limits: request bounds (scope count, name lengths, body size) and the per-user
rate limit on mints that reach Keycloak (limits' moving window, in memory)."""

import time

import pytest

from hubbroker.errors import BrokerError
from hubbroker.guards import MintRateLimiter, RequestLimits
from tokencontract.errors import ECHO_LIMIT, echo

LIMITS = RequestLimits(max_body=4096, max_scopes=20, max_name_length=128)


def test_echo_cuts_long_input_with_an_ellipsis():
    assert echo("fruit-api") == "fruit-api"
    cut = echo("x" * 10_000)
    assert len(cut) == ECHO_LIMIT and cut.endswith("…")
    assert echo(["a"] * 1000).startswith("['a', ") and len(echo(["a"] * 1000)) == ECHO_LIMIT


def test_a_body_over_the_limit_is_request_too_large():
    assert LIMITS.body_too_large(4096) is None
    error = LIMITS.body_too_large(4097)
    assert (error.code, error.status) == ("request_too_large", 413)
    assert "4096 bytes" in error.message
    assert RequestLimits(max_body=0).body_too_large(10**9) is None  # 0: no limit


def test_twenty_scopes_pass_and_twenty_one_are_invalid_request():
    LIMITS.check("fruit-api", tuple(f"s{i:02}" for i in range(20)))
    with pytest.raises(BrokerError) as info:
        LIMITS.check("fruit-api", tuple(f"s{i:04}" for i in range(1000)))
    assert (info.value.code, info.value.status) == ("invalid_request", 400)
    assert "1000 scopes" in info.value.message and "at most 20" in info.value.message
    assert len(info.value.message) < 200


@pytest.mark.parametrize(
    ("audience", "scopes"),
    [("a" * 129, ("fruits:read",)), ("fruit-api", ("fruits:read", "s" * 129))],
)
def test_a_name_over_the_length_limit_is_invalid_request_and_echoed_bounded(audience, scopes):
    LIMITS.check("a" * 128, ("s" * 128,))
    with pytest.raises(BrokerError) as info:
        LIMITS.check(audience, scopes)
    assert info.value.code == "invalid_request"
    assert "longer than 128 characters" in info.value.message
    assert "…" in info.value.message
    assert len(info.value.message) < 200


def test_a_burst_beyond_the_limit_is_rate_limited_with_retry_after():
    limiter = MintRateLimiter(60, 3)
    for _ in range(3):
        limiter.hit("alice")
    for _ in range(5):  # refused attempts are not counted, and keep being refused
        with pytest.raises(BrokerError) as info:
            limiter.hit("alice")
        error = info.value
        assert (error.code, error.status) == ("rate_limited", 429)
        assert 1 <= error.retry_after <= 10
        assert f"retry in {error.retry_after} s" in error.message
        assert "60 per minute, 3 within 10 s" in error.message
    limiter.hit("bob")  # per user


def test_the_minute_limit_holds_beyond_the_burst():
    limiter = MintRateLimiter(5, 20)  # burst above the rate: only the minute limit
    assert len(limiter.items) == 1
    for _ in range(5):
        limiter.hit("alice")
    with pytest.raises(BrokerError) as info:
        limiter.hit("alice")
    assert 50 <= info.value.retry_after <= 60


def test_minting_works_again_after_retry_after():
    limiter = MintRateLimiter(60, 2, burst_window=1)
    limiter.hit("alice")
    limiter.hit("alice")
    with pytest.raises(BrokerError) as info:
        limiter.hit("alice")
    assert info.value.retry_after == 1
    time.sleep(info.value.retry_after + 0.05)
    limiter.hit("alice")


def test_zero_rate_means_no_limit():
    limiter = MintRateLimiter(0, 0)
    for _ in range(1000):
        limiter.hit("alice")
