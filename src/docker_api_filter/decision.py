"""The answer for one request (``Decision``), and the objects a request may be about (``KINDS``).

A request about one container or service names it (``Decision.kind``, ``Decision.ref``): the
proxy inspects it (``ObjectKind.inspect``), checks that it carries the stack's label, then
forwards the request to the object's full ID (``Decision.for_object``), so that what was checked
is what is acted on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
#: A Swarm object's ID (swarmkit's identity.NewID: 25 base-36 digits).
SERVICE_ID = re.compile(r"[0-9a-z]{25}")


@dataclass(frozen=True)
class ObjectKind:
    """A kind of Docker object the hub acts on by name: where its inspect result is, where
    that result has the object's labels and its full ID."""

    #: The inspect path, ``{}`` the object's name or ID.
    inspect: str
    #: The keys leading to the labels in the inspect result.
    labels: tuple[str, ...]
    id_key: str
    id_pattern: re.Pattern[str]


#: The objects a request may be about: containers (docker) and services (swarm).
KINDS: Mapping[str, ObjectKind] = {
    "container": ObjectKind("/containers/{}/json", ("Config", "Labels"), "Id", CONTAINER_ID),
    "service": ObjectKind("/services/{}", ("Spec", "Labels"), "ID", SERVICE_ID),
}


@dataclass(frozen=True)
class Decision:
    """The answer for one request: forward it (how), or refuse it (status and reason)."""

    allowed: bool
    reason: str
    status: int = 200
    #: The path to forward (decoded; the proxy quotes it), with its API version prefix.
    path: str = ""
    #: The query to forward (the checked pairs; the list query carries the stack's filter).
    query: tuple[tuple[str, str], ...] = ()
    #: For a request about one object: its kind (a key of KINDS) and its name or ID. The proxy
    #: forwards it only once that object carries the stack's label (``Policy.check_object``,
    #: whose allowing decision has the object's full ID as ``ref``).
    kind: str = ""
    ref: str = ""
    #: Where the full ID goes: the path before and after it (None: the path stays) ...
    ref_path: tuple[str, str] | None = None
    #: ... or the key of the ``filters`` query parameter whose one value is the object.
    ref_filter: str = ""

    @property
    def message(self) -> str:
        """The one line the client sees (docker-py puts it in the hub's log)."""
        return f"docker-api-filter: {self.reason}"

    def for_object(self, object_id: str) -> Decision:
        """This decision, forwarded to the object's full ID (what was checked is acted on)."""
        path, query = self.path, self.query
        if self.ref_path is not None:
            before, after = self.ref_path
            path = f"{before}{object_id}{after}"
        if self.ref_filter:
            query = tuple(
                (name, _replace_filter(value, self.ref_filter, object_id))
                if name == "filters"
                else (name, value)
                for name, value in query
            )
        return Decision(allowed=True, reason=self.reason, path=path, query=query)


def _replace_filter(filters: str, key: str, value: str) -> str:
    return dump_filters({**json.loads(filters), key: [value]})


def dump_filters(filters: Mapping[str, list[str]]) -> str:
    return json.dumps(filters, separators=(",", ":"))
