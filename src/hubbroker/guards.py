"""What one request and one user may cost the hub and Keycloak (issue 9).

- ``RequestLimits``: the largest body, the most scopes and the longest audience or scope name
  the broker accepts (413 ``request_too_large``, 400 ``invalid_request``).
- ``MintRateLimiter``: per user, how many mints may reach Keycloak (cache misses), with
  ``limits``' moving window in memory: at most ``per_minute`` in any 60 s, of which at most
  ``burst`` in any ``burst_window`` seconds. Refused mints get 429 ``rate_limited`` and a
  ``Retry-After`` of the seconds until the oldest counted mint leaves its window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from hubbroker.errors import BrokerError
from tokencontract.errors import echo

#: The window of the burst limit, in seconds.
BURST_WINDOW = 10


@dataclass(frozen=True)
class RequestLimits:
    """Bounds on one token-exchange request (0 turns a bound off)."""

    max_body: int = 0  # bytes of the request body
    max_scopes: int = 0  # distinct scope names in one request
    max_name_length: int = 0  # characters of the audience and of each scope name

    def body_too_large(self, size: int) -> BrokerError | None:
        if self.max_body and size > self.max_body:
            return BrokerError(
                "request_too_large",
                f"the request body is larger than {self.max_body} bytes: send only "
                '{"audience": ..., "scope": ...} with a few scopes.',
            )
        return None

    def check(self, audience: str, scopes: tuple[str, ...]) -> None:
        """Raise ``invalid_request`` for too many scopes or a name that is too long."""
        longest = self.max_name_length
        if longest and len(audience) > longest:
            raise BrokerError(
                "invalid_request",
                f"audience {echo(audience)!r} is longer than {longest} characters.",
            )
        if self.max_scopes and len(scopes) > self.max_scopes:
            raise BrokerError(
                "invalid_request",
                f"{len(scopes)} scopes asked for: at most {self.max_scopes} per request.",
            )
        too_long = [name for name in scopes if longest and len(name) > longest]
        if too_long:
            raise BrokerError(
                "invalid_request",
                f"scope {echo(too_long[0])!r} is longer than {longest} characters.",
            )


class MintRateLimiter:
    """Per-user limit on mints that reach Keycloak; ``per_minute=0`` turns it off."""

    def __init__(self, per_minute: int, burst: int, *, burst_window: int = BURST_WINDOW) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self.burst_window = burst_window
        self.items: list[RateLimitItem] = []
        if per_minute > 0:
            self.items.append(RateLimitItemPerMinute(per_minute))
            if 0 < burst < per_minute:
                self.items.append(RateLimitItemPerSecond(burst, burst_window))
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def describe(self) -> str:
        text = f"{self.per_minute} per minute"
        if len(self.items) > 1:
            text += f", {self.burst} within {self.burst_window} s"
        return text

    def hit(self, username: str) -> None:
        """Count one mint of ``username``, or raise ``rate_limited`` (nothing counted)."""
        full = [item for item in self.items if not self.limiter.test(item, username)]
        if full:
            reset = max(self.limiter.get_window_stats(item, username).reset_time for item in full)
            retry_after = max(1, math.ceil(reset - time.time()))
            raise BrokerError(
                "rate_limited",
                f"too many new tokens for {echo(username)} (at most {self.describe()} reach "
                f"Keycloak): retry in {retry_after} s, and reuse tokens instead of asking "
                "in a loop.",
                retry_after=retry_after,
            )
        for item in self.items:
            self.limiter.hit(item, username)
