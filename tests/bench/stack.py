"""The stack a benchmark runs against: ``make up``'s, with *.localhost names resolved, and
the runtime a benchmark needs; a one-line reason and exit code 2 otherwise."""

from __future__ import annotations

import sys

from stackconf import localhost_names
from tests.support.stack import Stack, running_stack


def bench_stack(prog: str, native_only: str | None = None) -> Stack:
    """The running stack; ``native_only``: why the benchmark needs the native runtime."""
    localhost_names.install()  # auth.localhost (Keycloak's host) resolves to the loopback
    try:
        stack = running_stack()
    except RuntimeError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if native_only and stack.runtime != "native":
        print(f"{prog}: {native_only.format(runtime=stack.runtime)}", file=sys.stderr)
        raise SystemExit(2)
    return stack
