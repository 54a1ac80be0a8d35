"""The /ws send queue's policy, without sockets: budgets per kind, coalescing, idle timing."""

from __future__ import annotations

import asyncio

from twapserver.ws import Close, Outbox


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def drain(outbox: Outbox) -> list[str | Close]:
    return [await outbox.get() for _ in range(len(outbox))]


async def settle() -> None:
    """Let every runnable task run until it blocks (no wall-clock wait)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_keeps_the_latest_book_per_symbol_and_sheds_the_oldest() -> None:
    outbox = Outbox(book_capacity=2)
    for key, payload in [("A", "a1"), ("A", "a2"), ("B", "b1"), ("C", "c1")]:
        outbox.put_book(("binance", key), payload)

    assert await drain(outbox) == ["b1", "c1"]
    assert outbox.dropped_books == 2


async def test_books_never_displace_order_updates_or_replies() -> None:
    outbox = Outbox(book_capacity=1)
    outbox.put_reply("pong")
    outbox.put_order(1, "order-1")
    for key in ("A", "B", "C"):
        outbox.put_book(("binance", key), key)

    assert await drain(outbox) == ["pong", "order-1", "C"]


async def test_order_updates_coalesce_to_the_latest_per_order_and_keep_every_final_state() -> None:
    outbox = Outbox(book_capacity=1, order_capacity=16)
    for step in ("working-1", "working-2", "completed"):
        for order_id in range(12):
            assert outbox.put_order(order_id, f"{order_id}:{step}")

    assert await drain(outbox) == [f"{order_id}:completed" for order_id in range(12)]
    assert outbox.closing is None


async def test_an_update_after_the_queued_one_was_sent_is_queued_again() -> None:
    outbox = Outbox(book_capacity=1)
    outbox.put_order(1, "first")
    sent = await outbox.get()
    outbox.put_order(1, "second")

    assert (sent, await drain(outbox)) == ("first", ["second"])


async def test_more_waiting_orders_than_the_backlog_close_1013() -> None:
    outbox = Outbox(book_capacity=1, order_capacity=2)
    accepted = [outbox.put_order(order_id, str(order_id)) for order_id in range(3)]

    assert accepted == [True, True, False]
    assert await outbox.get() == Close(1013, "too slow")  # the queued updates were discarded


async def test_a_full_reply_budget_holds_the_reader_until_the_sender_takes_one() -> None:
    outbox = Outbox(book_capacity=1, reply_capacity=2)
    outbox.put_reply("pong-1")
    outbox.put_reply("pong-2")
    waiter = asyncio.create_task(outbox.wait_for_reply_room())
    await settle()
    held = not waiter.done()
    first = await outbox.get()
    await asyncio.wait_for(waiter, 1)

    assert (held, first) == (True, "pong-1")


async def test_a_snapshot_entry_never_follows_a_live_update_of_the_same_order() -> None:
    outbox = Outbox(book_capacity=1)
    outbox.begin_snapshot()
    outbox.put_order(7, "live-7")
    sent = await outbox.get()
    await outbox.put_snapshot(7, "db-7")  # possibly older than live-7: dropped
    await outbox.put_snapshot(8, "db-8")
    outbox.end_snapshot()

    assert (sent, await drain(outbox)) == ("live-7", ["db-8"])


async def test_a_snapshot_waits_while_half_the_order_backlog_is_used() -> None:
    outbox = Outbox(book_capacity=1, order_capacity=4)
    outbox.begin_snapshot()
    await outbox.put_snapshot(1, "db-1")
    await outbox.put_snapshot(2, "db-2")
    third = asyncio.create_task(outbox.put_snapshot(3, "db-3"))
    await settle()
    held = not third.done()
    await outbox.get()
    await asyncio.wait_for(third, 1)

    assert held
    assert await drain(outbox) == ["db-2", "db-3"]


async def test_stalled_time_counts_while_the_sender_holds_a_message() -> None:
    clock = FakeClock()
    outbox = Outbox(book_capacity=1, clock=clock)
    idle_before = outbox.stalled_s()
    outbox.put_reply("pong")
    await outbox.get()
    clock.now += 5
    stalled = outbox.stalled_s()
    waiting = asyncio.create_task(outbox.get())  # the send finished: nothing is held
    await settle()
    idle_after = outbox.stalled_s()
    waiting.cancel()

    assert (idle_before, stalled, idle_after) == (0.0, 5.0, 0.0)


async def test_an_urgent_close_discards_what_waits_and_goes_first() -> None:
    outbox = Outbox(book_capacity=1)
    outbox.put_reply("pong")
    outbox.put_order(1, "order-1")
    outbox.close(4408, "idle", discard=True)
    outbox.put_reply("ignored")

    assert (len(outbox), await outbox.get()) == (0, Close(4408, "idle"))
