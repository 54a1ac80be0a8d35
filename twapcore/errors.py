"""One exception tree for everything twapcore rejects.

Every message names the offending value and the rule it broke, so a caller can
show it to a user unchanged.
"""

from __future__ import annotations

__all__ = [
    "BookIntegrityError",
    "ChecksumMismatch",
    "InvalidDuration",
    "InvalidOrder",
    "InvalidState",
    "RecordingError",
    "SequenceGap",
    "StaleBook",
    "TwapError",
    "UnknownExchange",
    "UnknownInterval",
    "UnknownSymbol",
]


class TwapError(Exception):
    """Base of every error twapcore raises on purpose."""


class InvalidOrder(TwapError, ValueError):
    """An order specification breaks a rule (quantity, limit, duration, slices...).

    `reason` is a stable machine-readable code (e.g. `below_lot_size`) for APIs.
    """

    def __init__(self, message: str, reason: str = "invalid_order") -> None:
        super().__init__(message)
        self.reason = reason


class InvalidDuration(TwapError, ValueError):
    """A duration string cannot be read as a positive whole number of nanoseconds."""


class UnknownExchange(TwapError, LookupError):
    """The exchange name is not one twapcore knows."""


class UnknownSymbol(TwapError, LookupError):
    """The symbol is not known for that exchange (or not present in a recording)."""


class StaleBook(TwapError):
    """The book is older than the allowed age and must not be traded on."""


class BookIntegrityError(TwapError):
    """The locally maintained book no longer matches the venue's; it needs a resync."""


class SequenceGap(BookIntegrityError):
    """An update-id gap: at least one venue update was missed."""


class ChecksumMismatch(BookIntegrityError):
    """The venue's book checksum disagrees with the local book."""


class InvalidState(TwapError, ValueError):
    """A serialized execution state cannot be restored."""


class RecordingError(TwapError, ValueError):
    """A recording file is missing, unreadable, or holds a malformed line."""


class UnknownInterval(TwapError, ValueError):
    """A candle interval that is not one of the supported ones."""
