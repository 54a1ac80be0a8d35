"""The engine's timings and retry limits, in one place."""

from __future__ import annotations

DEFAULT_LEASE_S = 5.0
NS = 1_000_000_000
RETRY_NS = NS  # after a failed commit, try again from the database state in 1 s
STEP_ATTEMPTS = 3  # a slice whose step raised this many times is skipped (engine_error)
STEP_RETRY_NS = NS // 10  # first retry of a failed step; doubles each time
CLAIM_GRACE_NS = NS  # a slice overdue by more than this when claimed was missed
# Under a stream of submissions, wait this long after the first of a burst so that one
# claim (and one commit) serves many orders rather than one statement set each.
CLAIM_WINDOW_S = 0.005
COMMIT_WINDOW_S = 0.002
STEP_CHUNK = 500  # steps between two yields to the event loop
MARKOUT_POLL_S = 0.5  # how often the running engine measures the horizons that passed
