"""Attacks against the running compose stack (issue 9): each test passes only when the attack
fails. docs/security.md maps every threat to the test that covers it.

The compose suite's fixtures (the stack must be compose; the reader's running server
container) are shared, not copied."""

from tests.compose.conftest import compose_stack, reader_container  # noqa: F401 (fixtures)
