"""The broker's memo of decrypted auth_state: each mint and cache hit needs the user's
auth_state, and JupyterHub decrypts it every time (a thread hop and a Fernet decryption,
about half a millisecond on a small machine, on the path of every token).

The memo keeps, per user, the encrypted value it decrypted and what it decrypted to, and
answers from it while the hub's database still holds that very value. Every change of the
auth_state (a login, a refresh, a logout) stores a new encrypted value (Fernet uses a fresh
IV each time), so the memo never answers with a state the hub no longer holds. It lives in
the hub's memory only, like the decrypted state during each request, and forgets a user at
revocation. A user object without ``encrypted_auth_state`` (the unit tests' fakes) is read
through ``get_auth_state`` every time.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

#: The most users remembered; beyond it the least recently used are forgotten.
MAX_USERS = 10_000


class AuthStates:
    def __init__(self, max_users: int = MAX_USERS) -> None:
        self.max_users = max_users
        self._memo: OrderedDict[str, tuple[Any, dict[str, Any] | None]] = OrderedDict()

    async def read(self, user: Any) -> dict[str, Any] | None:
        """``user.get_auth_state()``, decrypted only when its encrypted value changed.
        The answer is shared: callers must not change it (copy it first)."""
        encrypted = getattr(user, "encrypted_auth_state", None)
        if encrypted is None:
            self._memo.pop(user.name, None)
            return await user.get_auth_state()
        remembered = self._memo.get(user.name)
        if remembered is not None and remembered[0] == encrypted:
            self._memo.move_to_end(user.name)
            return remembered[1]
        state = await user.get_auth_state()
        if getattr(user, "encrypted_auth_state", None) == encrypted:  # not changed meanwhile
            self._memo[user.name] = (encrypted, state)
            self._memo.move_to_end(user.name)
            while len(self._memo) > self.max_users:
                self._memo.popitem(last=False)
        return state

    def forget(self, username: str) -> None:
        self._memo.pop(username, None)

    def __len__(self) -> int:
        return len(self._memo)
