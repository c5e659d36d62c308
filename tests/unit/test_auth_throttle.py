"""The failed-auth throttle: N failures per window per client, then a wait of whole seconds."""

from __future__ import annotations

from settlement.api.throttle import FailedAuthThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_is_held_after_n_failures_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    throttle = FailedAuthThrottle(3, 60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after_s("10.0.0.1") is None
        throttle.failed("10.0.0.1")
        clock.now += 10
    assert throttle.retry_after_s("10.0.0.1") == 30  # first failure at 1000, now 1030
    assert throttle.retry_after_s("10.0.0.2") is None  # others are not affected
    clock.now += 30
    assert throttle.retry_after_s("10.0.0.1") is None
    throttle.failed("10.0.0.1")  # one more guess, and it is held again
    assert throttle.retry_after_s("10.0.0.1") == 10


def test_tracked_clients_are_bounded() -> None:
    throttle = FailedAuthThrottle(1, 60, clients_max=2, clock=Clock())
    for client in ("a", "b", "c"):
        throttle.failed(client)
    assert throttle.retry_after_s("a") is None  # forgotten first
    assert throttle.retry_after_s("b") == 60 and throttle.retry_after_s("c") == 60
