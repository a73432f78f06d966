"""AuthStates: auth_state decrypted once per change of its encrypted value, not per token."""

from __future__ import annotations

from hubbroker.authstates import AuthStates


class User:
    """A JupyterHub user as the memo sees it: the encrypted value and a decryption."""

    def __init__(self, name: str = "alice") -> None:
        self.name = name
        self.decrypted = 0
        self.encrypted_auth_state: bytes | None = b"v1"
        self.states = {b"v1": {"access_token": "a1"}, b"v2": {"access_token": "a2"}}

    async def get_auth_state(self):
        self.decrypted += 1
        return self.states.get(self.encrypted_auth_state)


async def test_decrypted_once_while_the_encrypted_value_is_unchanged():
    memo, user = AuthStates(), User()
    first = await memo.read(user)
    assert [await memo.read(user) for _ in range(5)] == [first] * 5
    assert first == {"access_token": "a1"}
    assert user.decrypted == 1


async def test_a_new_encrypted_value_is_decrypted_again():
    memo, user = AuthStates(), User()
    await memo.read(user)
    user.encrypted_auth_state = b"v2"  # a refresh or a logout saved a new state
    assert await memo.read(user) == {"access_token": "a2"}
    assert user.decrypted == 2


async def test_no_state_is_never_remembered():
    memo, user = AuthStates(), User()
    user.encrypted_auth_state = None
    assert await memo.read(user) is None
    assert await memo.read(user) is None
    assert user.decrypted == 2
    assert len(memo) == 0


async def test_forget_and_the_size_bound():
    memo = AuthStates(max_users=2)
    users = [User(f"u{i}") for i in range(3)]
    for user in users:
        await memo.read(user)
    assert len(memo) == 2  # u0, the least recently used, is gone
    await memo.read(users[0])
    assert users[0].decrypted == 2
    memo.forget("u0")
    await memo.read(users[0])
    assert users[0].decrypted == 3


async def test_a_state_changed_while_it_was_decrypted_is_not_remembered():
    memo, user = AuthStates(), User()
    plain = user.get_auth_state

    async def changed_meanwhile():
        state = await plain()
        user.encrypted_auth_state = b"v2"
        return state

    user.get_auth_state = changed_meanwhile
    await memo.read(user)
    user.get_auth_state = plain
    assert await memo.read(user) == {"access_token": "a2"}


async def test_users_without_an_encrypted_value_are_read_every_time():
    class Fake:
        name = "bob"
        calls = 0

        async def get_auth_state(self):
            Fake.calls += 1
            return {"access_token": "b"}

    memo = AuthStates()
    for _ in range(3):
        assert await memo.read(Fake()) == {"access_token": "b"}
    assert Fake.calls == 3 and len(memo) == 0
