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


class FakeNode:
    """What announce_pinned_ports reads of a ray Node."""

    def __init__(self, listen: int | None, metrics_agent: int | None, metrics_export: int | None):
        self._ray_params = type("Params", (), {"dashboard_agent_listen_port": listen,
                                               "metrics_agent_port": metrics_agent,
                                               "metrics_export_port": metrics_export})()
        self.node_id = "ab12"

    def get_session_dir_path(self) -> str:
        return "/tmp/ray/session_x"


def test_pinned_agent_ports_are_written_before_the_raylet_starts():
    events = []
    persist = lambda *args: events.append(("persist", *args))  # noqa: E731
    start = raystart.announcing(lambda node, *a, **k: events.append(("raylet", a, k)) or "proc", persist)
    assert start(FakeNode(52365, 6382, 6384), "/dev/shm", None, object_store_memory=1) == "proc"
    assert events == [
        ("persist", "/tmp/ray/session_x", "ab12", "dashboard_agent_listen_port", 52365),
        ("persist", "/tmp/ray/session_x", "ab12", "metrics_agent_port", 6382),
        ("persist", "/tmp/ray/session_x", "ab12", "metrics_export_port", 6384),
        ("raylet", ("/dev/shm", None), {"object_store_memory": 1})]


def test_ports_ray_picks_itself_are_left_to_the_agent():
    written = []
    names = raystart.announce_pinned_ports(FakeNode(None, 0, 6384), lambda *a: written.append(a))
    assert names == ["metrics_export_port"] and written == [("/tmp/ray/session_x", "ab12",
                                                             "metrics_export_port", 6384)]


def test_the_port_file_is_the_one_rays_own_wait_reads(tmp_path):
    from ray._raylet import DASHBOARD_AGENT_LISTEN_PORT_NAME, persist_port, wait_for_persisted_port

    node = FakeNode(52365, None, None)
    node.node_id = "c7116066849c8c5ba8a8c73538a290db2fdb3bdb154d93e9ea3438bc"
    node.get_session_dir_path = lambda: str(tmp_path)
    raystart.announce_pinned_ports(node, persist_port)
    assert wait_for_persisted_port(str(tmp_path), node.node_id,
                                   DASHBOARD_AGENT_LISTEN_PORT_NAME, timeout_ms=1000) == 52365
