"""The broker's token cache: expiry margin with an injected clock, per-user forgetting."""

from hubbroker.cache import Minted, TokenCache

SECRET = "eyJhbGciOi.SECRET-ACCESS-TOKEN.sig"


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def minted(expires_at, audience="fruit-api", scope="fruits:read"):
    return Minted(access_token=SECRET, expires_at=expires_at, scope=scope, audience=audience)


def key(user="alice", server="", audience="fruit-api", scopes=("fruits:read",)):
    return (user, server, audience, scopes)


def test_hit_before_margin_then_miss_and_eviction_within_margin():
    clock = Clock()
    cache = TokenCache(margin=30, clock=clock)
    token = minted(clock.now + 300)
    cache.put(key(), token)
    assert cache.get(key()) is token
    clock.now += 269  # 31 s left: still served
    assert cache.get(key()) is token
    assert len(cache) == 1
    clock.now += 1  # 30 s left: within the margin
    assert cache.get(key()) is None
    assert len(cache) == 0  # evicted, not just hidden
    assert cache.stats() == {"entries": 0}


def test_missing_key_is_a_miss():
    cache = TokenCache(margin=30, clock=Clock())
    assert cache.get(key()) is None


def test_put_of_a_token_already_near_expiry_is_not_stored():
    clock = Clock()
    cache = TokenCache(margin=30, clock=clock)
    cache.put(key(), minted(clock.now + 30))
    cache.put(key(server="s2"), minted(clock.now - 5))
    assert len(cache) == 0
    assert cache.get(key()) is None
    cache.put(key(), minted(clock.now + 31))
    assert len(cache) == 1


def test_keys_differ_by_server_audience_and_scope():
    clock = Clock()
    cache = TokenCache(margin=30, clock=clock)
    a = minted(clock.now + 300)
    cache.put(key(), a)
    assert cache.get(key(server="gpu")) is None
    assert cache.get(key(audience="veg-api")) is None
    assert cache.get(key(scopes=("fruits:read", "fruits:write"))) is None
    assert cache.get(key()) is a


def test_forget_user_drops_only_that_users_entries():
    clock = Clock()
    cache = TokenCache(margin=30, clock=clock)
    exp = clock.now + 300
    cache.put(key("alice"), minted(exp))
    cache.put(key("alice", server="gpu"), minted(exp))
    cache.put(key("bob"), minted(exp))
    cache.put(key("alice2"), minted(exp))
    assert cache.forget_user("alice") == 2
    assert cache.get(key("alice")) is None
    assert cache.get(key("alice", server="gpu")) is None
    assert cache.get(key("bob")) is not None
    assert cache.get(key("alice2")) is not None
    assert cache.forget_user("alice") == 0
    assert len(cache) == 2


def test_repr_and_str_of_minted_never_show_the_token():
    token = minted(1234.0)
    for text in (repr(token), str(token), f"{token}", repr([token]), repr({"k": token})):
        assert SECRET not in text
        assert "SECRET" not in text
    assert "fruit-api" in repr(token)
    assert "fruits:read" in repr(token)


def test_many_short_lived_tokens_do_not_grow_the_cache_without_bound():
    # An attacker with many hub tokens (each its own server key) mints once per key and never
    # asks again: get() never sees those keys, so put() must drop them once expired.
    clock = Clock()
    cache = TokenCache(margin=30, clock=clock)
    for n in range(20_000):
        cache.put(key(server=f"token-{n}"), minted(clock.now + 60))  # 30 s usable
        clock.now += 1
    assert len(cache) <= 2 * 30 + 64  # the live ones, and at most one sweep behind
    live = [n for n in range(20_000) if cache.get(key(server=f"token-{n}")) is not None]
    assert live == list(range(20_000 - 29, 20_000))  # 30 s usable, clock 1 s past the last


def test_sweep_drops_only_entries_past_the_margin():
    clock = Clock()
    cache = TokenCache(margin=30, clock=clock)
    cache.put(key("alice"), minted(clock.now + 300))
    cache.put(key("bob"), minted(clock.now + 40))
    clock.now += 20
    assert cache.sweep() == 1
    assert cache.get(key("alice")) is not None
    assert len(cache) == 1


def test_a_full_cache_drops_the_entries_that_expire_first():
    clock = Clock()
    cache = TokenCache(margin=30, clock=clock, max_entries=3)
    cache.put(key("a"), minted(clock.now + 200))
    cache.put(key("b"), minted(clock.now + 100))
    cache.put(key("c"), minted(clock.now + 300))
    cache.put(key("c"), minted(clock.now + 300))  # replacing a key evicts nothing
    assert len(cache) == 3
    cache.put(key("d"), minted(clock.now + 250))
    assert len(cache) == 3
    assert cache.get(key("b")) is None
    assert all(cache.get(key(user)) is not None for user in "acd")


def test_an_entry_is_served_only_under_the_epoch_it_was_stored_under():
    clock = Clock()
    cache = TokenCache(margin=30, clock=clock)
    token = minted(clock.now + 300)
    cache.put(key(), token, 3)
    assert cache.get(key(), 3) is token
    assert cache.get(key(), 4) is None  # minted before a revocation
    assert len(cache) == 0  # dropped, not just hidden
    assert cache.get(key(), 3) is None
    cache.put(key(), token)  # epoch 0 by default
    assert cache.get(key()) is token


def test_forget_server_drops_only_that_servers_tokens() -> None:
    cache = TokenCache(margin=30, clock=lambda: 1000.0)
    token = Minted("t", 2000.0, "s", "api")
    for key in [
        ("alice", "default", "api", ("s",)),
        ("alice", "gpu", "api", ("s",)),
        ("bob", "default", "api", ("s",)),
    ]:
        cache.put(key, token)
    assert cache.forget_server("alice", "default") == 1
    assert cache.get(("alice", "default", "api", ("s",))) is None
    assert cache.get(("alice", "gpu", "api", ("s",))) is token
    assert cache.get(("bob", "default", "api", ("s",))) is token
