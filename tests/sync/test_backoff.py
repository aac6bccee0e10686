"""The client's backoff: full jitter between 30 s and 30 s * 2**(n-1), at most
6 h, never shorter than Retry-After (delay-seconds or HTTP-date, RFC 9110)."""

from __future__ import annotations

import email.utils
import random

from sync.client import BACKOFF_MAX_S, BACKOFF_MIN_S, backoff_delay, parse_retry_after


def test_full_jitter_bounds_grow_and_cap() -> None:
    rng = random.Random(3)
    for n in (1, 2, 3, 8, 20, 5000):  # 5000 failures in a row: no OverflowError
        cap = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** min(n - 1, 60))
        draws = [backoff_delay(n, rng=rng) for _ in range(300)]
        assert all(BACKOFF_MIN_S <= d <= cap for d in draws)
        if cap > BACKOFF_MIN_S * 4:
            assert max(draws) - min(draws) > (cap - BACKOFF_MIN_S) / 2  # jittered over the whole range
    assert backoff_delay(1, rng=rng) == BACKOFF_MIN_S


def test_retry_after_wins_but_is_capped() -> None:
    rng = random.Random(1)
    assert backoff_delay(1, retry_after_s=600, rng=rng) == 600
    assert backoff_delay(1, retry_after_s=10 * 86_400, rng=rng) == BACKOFF_MAX_S


def test_retry_after_parsing() -> None:
    now = 1_780_000_000.0
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now) == 90
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None
