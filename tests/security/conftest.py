"""Attacks against the running compose stack (issue 9): each test passes only when the attack
fails. docs/security.md maps every threat to the test that covers it."""
