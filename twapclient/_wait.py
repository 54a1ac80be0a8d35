"""The sans-I/O state of `wait()`: waiting for one order to end.

`OrderWait` decides, from the states seen and the time its driver reads from
its own clock, whether the wait is over, how long to pause before the next
poll, and when to give up; `TwapClient.wait` (polling) and
`AsyncTwapClient.wait` (the WebSocket, else polling) only drive it.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from twapclient._exceptions import WaitTimeout
from twapclient._models import Order, OrderMessage
from twapcore import OrderStatus

__all__ = ["RESYNC_S", "OrderUpdate", "OrderWait", "UpdateListener"]

# Re-read the order over REST after this long without a WebSocket update for it,
# so a missed message can never leave a wait hanging.
RESYNC_S = 10.0

OrderUpdate = Order | OrderMessage
"""A state of the order: read over REST (`Order`) or pushed on the stream."""
UpdateListener = Callable[[OrderUpdate], None]


class OrderWait:
    """Waiting for order `token_id` to end, from `now` (seconds, the driver's clock).

    `timeout_s` None waits forever. `on_update` is called once per state that is
    further along than the last one reported (final, slices done, filled, started):
    a state read twice — say over REST and then in the stream's snapshot — is
    reported once, and an older one arriving late (a snapshot read before the poll
    it follows) is not reported at all, so the states seen only move forward.
    """

    def __init__(
        self,
        token_id: str,
        timeout_s: float | None,
        poll_interval_s: float,
        now: float,
        on_update: UpdateListener | None = None,
    ) -> None:
        if timeout_s is not None and timeout_s < 0:
            raise ValueError(f"timeout {timeout_s:g} s must not be negative")
        if poll_interval_s <= 0:
            raise ValueError(f"poll interval {poll_interval_s:g} s must be positive")
        self.token_id = token_id
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.deadline = None if timeout_s is None else now + timeout_s
        self._on_update = on_update
        self._last: OrderUpdate | None = None

    def seen(self, update: OrderUpdate) -> bool:
        """Record a state of the order (reporting it if further along); True if final."""
        if self._last is None or _progress(update) > _progress(self._last):
            self._last = update
            if self._on_update is not None:
                self._on_update(update)
        return update.status.is_final

    def pause(self, now: float) -> float:
        """Seconds to wait before the next poll; `WaitTimeout` once the deadline has passed.

        The last pause ends at the deadline, so one more poll sees the state then.
        """
        if self.deadline is None:
            return self.poll_interval_s
        left = self.deadline - now
        if left <= 0:
            raise self.timed_out()
        return min(self.poll_interval_s, left)

    def timed_out(self) -> WaitTimeout:
        """The error for a wait that ran out of time, naming the last state seen."""
        status = "unknown" if self._last is None else self._last.status.value
        return WaitTimeout(self.token_id, self.timeout_s or 0.0, status)


def _progress(update: OrderUpdate) -> tuple[bool, int, Decimal, bool]:
    """How far an order has got: each part only grows over its life."""
    return (
        update.status.is_final,
        update.slices_done,
        update.filled_qty,
        update.status is not OrderStatus.ACCEPTED,
    )
