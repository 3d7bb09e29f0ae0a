"""raystart: Ray's `ray start` with a longer wait for a slow node's raylet to register."""

import pytest

from stacklab.cluster import raystart


class Clock:
    """A fake monotonic clock that sleeping moves forward."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def missing_until(ready_at: float, clock: Clock):
    calls = []

    def get_node(gcs_address, node_id):
        calls.append(clock())
        if clock() < ready_at:
            raise RuntimeError("GCS cannot find the node")
        return {"node_id": node_id, "gcs": gcs_address}
    return get_node, calls


def test_a_raylet_registering_late_is_waited_for():
    clock = Clock()
    get_node, calls = missing_until(95.0, clock)
    lookup = raystart.patient(get_node, 600, clock=clock, sleep=clock.sleep)
    assert lookup("10.0.0.2:6379", "abc") == {"node_id": "abc", "gcs": "10.0.0.2:6379"}
    assert 95.0 <= clock() < 96.0 and len(calls) > 100


def test_a_raylet_that_never_registers_still_fails_after_the_wait():
    clock = Clock()
    get_node, _ = missing_until(float("inf"), clock)
    lookup = raystart.patient(get_node, 120, clock=clock, sleep=clock.sleep)
    with pytest.raises(RuntimeError, match="cannot find the node"):
        lookup("gcs", "abc")
    assert 120.0 <= clock() < 121.0


def test_other_errors_are_not_retried():
    clock = Clock()
    calls = []

    def broken(*args):
        calls.append(args)
        raise ValueError("bad address")
    with pytest.raises(ValueError):
        raystart.patient(broken, 600, clock=clock, sleep=clock.sleep)("gcs", "abc")
    assert len(calls) == 1 and clock() == 0.0


@pytest.mark.parametrize("raw", ["soon", "0", "-5"])
def test_a_wrong_wait_is_one_clear_line(raw):
    with pytest.raises(SystemExit, match="STACKLAB_RAY_START_WAIT_S=.*positive number"):
        raystart.wait_seconds({"STACKLAB_RAY_START_WAIT_S": raw})


def test_the_wait_defaults_to_rays_own():
    assert raystart.wait_seconds({}) == raystart.DEFAULT_WAIT_S == 30.0
    assert raystart.wait_seconds({"STACKLAB_RAY_START_WAIT_S": "600"}) == 600.0


def test_the_dashboard_gets_as_long_as_the_raylet():
    assert raystart.slow_node_settings(600) == {"RAY_DASHBOARD_STARTUP_TIMEOUT_S": "600"}
