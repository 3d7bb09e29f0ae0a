"""session.follow over a stand-in of FEDn's REST answers: every round is accounted for."""

from __future__ import annotations

from stacklab.federated import session


class FakeApi:
    """Two rounds FEDn aggregated (models m1 -> m2); validations only of m1; the session Finished."""

    def __init__(self, validated: tuple[str, ...]) -> None:
        self.validated = validated

    def list(self, kind: str, **_):
        if kind == "rounds":
            return [{"round_id": "1", "status": "Finished"}, {"round_id": "2", "status": "Finished"}]
        if kind == "models":
            return [{"model_id": "m1", "parent_model": None}, {"model_id": "m2", "parent_model": "m1"}]
        if kind == "validations":
            return [{"model_id": m, "sender": {"name": c}, "data": '{"test_accuracy": 0.9}'}
                    for m in self.validated for c in ("client1", "client2")]
        raise AssertionError(kind)

    def get(self, path: str):
        return {"status": "Finished"}


def test_a_round_without_validations_is_reported_not_dropped(monkeypatch):
    monkeypatch.setattr(session, "STRAGGLER_GRACE_S", 0.0)
    monkeypatch.setattr(session, "POLL_S", 0.01)
    lines: list[str] = []
    records = session.follow(FakeApi(("m1",)), "s", "seed", 1, 2, ["client1", "client2"], log=lines.append, timeout=30)
    assert [r["status"] for r in records] == ["Finished", session.UNVALIDATED]
    assert records[1]["model_id"] == "m2" and records[1]["seconds"] is None
    assert any("no client validation arrived" in line for line in lines)


def test_fully_validated_rounds_are_all_finished(monkeypatch):
    monkeypatch.setattr(session, "POLL_S", 0.01)
    records = session.follow(FakeApi(("m1", "m2")), "s", "seed", 1, 2, ["client1", "client2"], log=lambda _: None,
                             timeout=30)
    assert [r["status"] for r in records] == ["Finished", "Finished"]
    assert all(set(r["clients"]) == {"client1", "client2"} for r in records)
