"""KeyedLocks: one coroutine at a time per key, keys independent, idle locks dropped."""

import asyncio

import pytest

from hubtokens.broker.singleflight import KeyedLocks


async def test_same_key_runs_one_after_the_other():
    locks = KeyedLocks()
    events = []

    async def work(name):
        async with locks.hold("alice"):
            events.append(f"start {name}")
            await asyncio.sleep(0.01)
            events.append(f"end {name}")

    await asyncio.gather(work("a"), work("b"), work("c"))
    assert events == ["start a", "end a", "start b", "end b", "start c", "end c"]
    assert len(locks) == 0
    assert locks._waiters == {}


async def test_different_keys_run_concurrently():
    locks = KeyedLocks()
    events = []
    both_inside = asyncio.Event()
    inside = set()

    async def work(key):
        async with locks.hold(key):
            events.append(f"start {key}")
            inside.add(key)
            if len(inside) == 2:
                both_inside.set()
            # Deadlocks (and times out) if the other key's holder cannot enter meanwhile.
            await asyncio.wait_for(both_inside.wait(), timeout=2)
            events.append(f"end {key}")

    await asyncio.gather(work("alice"), work("bob"))
    assert events[:2] == ["start alice", "start bob"]
    assert len(locks) == 0


async def test_lock_is_shared_while_held_and_dropped_after_an_exception():
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("alice"):
            assert len(locks) == 1
            raise RuntimeError("boom")
    assert len(locks) == 0
    async with locks.hold("alice"):  # usable again afterwards
        assert len(locks) == 1
    assert len(locks) == 0


async def test_cancelled_waiter_does_not_leak_or_break_the_lock():
    locks = KeyedLocks()
    release = asyncio.Event()
    entered = []

    async def holder():
        async with locks.hold("alice"):
            entered.append("holder")
            await release.wait()

    async def waiter():
        async with locks.hold("alice"):
            entered.append("waiter")

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    w = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    w.cancel()
    with pytest.raises(asyncio.CancelledError):
        await w
    release.set()
    await h
    assert entered == ["holder"]
    assert len(locks) == 0
    async with locks.hold("alice"):
        entered.append("later")
    assert entered == ["holder", "later"]
