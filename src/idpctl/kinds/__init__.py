"""Every kind of Keycloak object idpctl manages, registered once (one module each).

``TABLE`` is the only list of kinds. Its row order is the apply order: a plan lists each
kind's creates and updates in this order (each kind after the kinds its objects name) and
its deletes in reverse, and apply carries the plan out in the plan's order; it is also the
order in which the live state is read. ``read`` is the order in which a realm's files are
read (that is the order of the problems validate reports), ``check`` the order of the
checks between kinds once every kind is read (None: the kind has none).
"""

from __future__ import annotations

from idpctl.kinds import (
    admin_permissions,
    apis,
    client_scopes,
    clients,
    default_groups,
    flows,
    groups,
    profile,
    realm,
    roles,
    users,
)
from idpctl.kinds.base import Kind, ObjectKind, Source

# fmt: off
TABLE: tuple[tuple[Kind, int, int | None], ...] = (
    # kind                   read  check
    (realm.KIND,                1, None),
    (profile.KIND,              9, None),
    (roles.KIND,                5, None),
    (client_scopes.KIND,        4, 4),
    (clients.KIND,              3, 1),
    (groups.KIND,               6, 2),
    (default_groups.KIND,       2, 5),
    (users.KIND,               10, 3),
    (admin_permissions.KIND,    7, 6),
    (flows.KIND,                8, None),
    (apis.KIND,                11, None),  # derives clients, client scopes, roles: applied as those
)
# fmt: on

#: The kinds in apply order.
KINDS: tuple[Kind, ...] = tuple(kind for kind, _, _ in TABLE)
#: The kinds in the order a realm's files are read.
READ_ORDER: tuple[Kind, ...] = tuple(row[0] for row in sorted(TABLE, key=lambda row: row[1]))
#: The kinds that check references to other kinds, in order.
CHECK_ORDER: tuple[Kind, ...] = tuple(
    row[0] for row in sorted((r for r in TABLE if r[2] is not None), key=lambda r: r[2] or 0)
)
#: The kinds whose objects Desired and Live hold, by attribute.
STATE: tuple[Kind, ...] = tuple(kind for kind in KINDS if kind.state)
#: The names of the kinds idpctl records as managed (idpctl.live), in apply order.
TRACKED: tuple[str, ...] = tuple(kind.name for kind in KINDS if kind.tracked)
#: How a plan shows a change, and the kind that applies it, by Change.kind.
LABELS: dict[str, str] = {name: label for kind in KINDS for name, label in kind.labels.items()}
OWNERS: dict[str, Kind] = {name: kind for kind in KINDS for name in kind.labels}

__all__ = [
    "CHECK_ORDER",
    "KINDS",
    "LABELS",
    "OWNERS",
    "READ_ORDER",
    "STATE",
    "TABLE",
    "TRACKED",
    "Kind",
    "ObjectKind",
    "Source",
]
