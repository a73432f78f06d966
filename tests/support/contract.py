"""The broker's error contract (docs/broker.md), written out once for the tests that check
each side of it: every code, its HTTP status and the client's exception."""

import hubtokens

BROKER_ERRORS = [
    ("invalid_request", 400, hubtokens.InvalidRequest),
    ("login_required", 401, hubtokens.LoginRequired),
    ("forbidden", 403, hubtokens.Forbidden),
    ("audience_not_allowed", 403, hubtokens.AudienceNotAllowed),
    ("scope_not_allowed", 403, hubtokens.ScopeNotAllowed),
    ("not_granted_to_job", 403, hubtokens.NotGrantedToJob),
    ("grant_ended", 401, hubtokens.GrantEnded),
    ("request_too_large", 413, hubtokens.RequestTooLarge),
    ("rate_limited", 429, hubtokens.RateLimited),
    ("idp_unavailable", 503, hubtokens.IdpUnavailable),
    ("hub_unavailable", 503, hubtokens.HubUnavailable),
]
