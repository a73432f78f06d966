"""KeyedLocks (one coroutine at a time per key) and SingleFlight (one call per key, its
outcome shared)."""

import asyncio

import pytest

from hubbroker.singleflight import KeyedLocks, SingleFlight


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


# -- SingleFlight: one call per key, its outcome shared -------------------------------------


async def test_single_flight_runs_one_call_and_shares_its_result():
    flights = SingleFlight()
    calls = []
    release = asyncio.Event()

    async def call():
        calls.append(1)
        await release.wait()
        return object()

    waiting = [asyncio.ensure_future(flights.run("k", call)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting)
    assert len(calls) == 1
    assert len({id(result) for result, _ in results}) == 1
    assert sorted(ran for _, ran in results) == [False] * 49 + [True]
    assert len(flights) == 0


async def test_single_flight_shares_an_error_then_runs_again():
    flights = SingleFlight()
    calls = []

    async def failing():
        calls.append(1)
        await asyncio.sleep(0.01)
        raise RuntimeError("down")

    outcomes = await asyncio.gather(
        *(flights.run("k", failing) for _ in range(5)), return_exceptions=True
    )
    assert len(calls) == 1
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert len(flights) == 0

    async def works():
        calls.append(2)
        return "ok"

    assert await flights.run("k", works) == ("ok", True)  # a new call: the failure is not kept
    assert calls == [1, 2]


async def test_single_flight_keys_are_independent():
    flights = SingleFlight()
    both = asyncio.Event()
    started = set()

    async def call(key):
        started.add(key)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=2)  # deadlocks if keys were serialised
        return key

    results = await asyncio.gather(
        flights.run("a", lambda: call("a")), flights.run("b", lambda: call("b"))
    )
    assert results == [("a", True), ("b", True)]


async def test_a_cancelled_caller_does_not_cancel_the_call_for_the_others():
    flights = SingleFlight()
    release = asyncio.Event()

    async def call():
        await release.wait()
        return "token"

    first = asyncio.ensure_future(flights.run("k", call))
    second = asyncio.ensure_future(flights.run("k", call))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await second == ("token", False)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len(flights) == 0
