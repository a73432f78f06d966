"""The fuzz suite's budget: one hypothesis profile for every test here (schemathesis runs on
hypothesis too). FUZZ_EXAMPLES sets the number of generated cases per test (default 200: the
whole suite stays within a minute or two in CI); a longer local run: FUZZ_EXAMPLES=5000
make test-fuzz. Inputs that once broke something are kept as explicit @example cases in the
tests, so they run every time whatever the budget."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,  # a slow case is not a failure here; a 5xx or a traceback is
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,  # a failure prints the blob that reproduces it
)
settings.load_profile("fuzz")
