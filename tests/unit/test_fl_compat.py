"""Each FEDn 0.33.0 workaround in stacklab.federated.compat: fails if the workaround is removed."""

from __future__ import annotations

import inspect

import pytest

from stacklab.federated import compat


def test_targets_installed_fedn():
    compat.check_version()  # raises when fedn != 0.33.0


def test_bug2_postgres_url_names_psycopg2():
    compat.use_psycopg2_driver()
    from fedn.network.storage import dbconnection

    engine = dbconnection.create_engine("postgresql://u:p@127.0.0.1:1/fedn_db")
    assert engine.url.drivername == "postgresql+psycopg2"
    engine.dispose()


def test_engines_reconnect_after_db_restart():
    compat.reconnect_after_db_restart()
    from fedn.network.storage import dbconnection

    engine = dbconnection.create_engine("sqlite://")
    assert engine.pool._pre_ping is True
    engine.dispose()


def test_bug2_sqlalchemy_pin_holds():
    import sqlalchemy

    major, minor = (int(x) for x in sqlalchemy.__version__.split(".")[:2])
    assert (major, minor) < (2, 1), "requirements.txt pins SQLAlchemy<2.1 (fedn ships psycopg2 only)"


def test_bug3_schema_created_before_workers(tmp_path):
    from sqlalchemy import create_engine
    from sqlalchemy import inspect as sa_inspect

    db = tmp_path / "fedn.sqlite"
    compat.create_schema_once({"type": "SQLite", "sqlite_config": {"dbname": str(db)}})
    tables = set(sa_inspect(create_engine(f"sqlite:///{db}")).get_table_names())
    assert {"rounds", "round_configs", "clients", "models", "sessions", "validations"} <= tables


def test_bug4_client_add_payload_gets_combiner_preferred():
    assert compat.fix_client_add_payload({"preferred_combiner": None})["combiner_preferred"] == ""
    assert compat.fix_client_add_payload({"preferred_combiner": "c1"})["combiner_preferred"] == "c1"
    assert compat.fix_client_add_payload({"combiner_preferred": "c2"})["combiner_preferred"] == "c2"


def _payload_the_view_gets(endpoint: str, url: str, body: dict) -> dict:
    """Call a patched FEDn view with ``body``; the JSON its original view then reads."""
    from fedn.network.api.server import app

    view = app.view_functions[endpoint]
    seen = {}
    original = view.__wrapped__
    view.__wrapped__ = lambda: seen.update(payload=__import__("flask").request.get_json()) or "ok"
    try:
        with app.test_request_context(url, method="POST", json=body):
            assert view() == "ok"
    finally:
        view.__wrapped__ = original
    return seen["payload"]


def test_bug4_route_is_wrapped_and_fixes_the_request():
    compat.patch_client_add_route()
    payload = _payload_the_view_gets("client.add_client", "/api/v1/clients/add",
                                     {"client_id": "x", "name": "c", "preferred_combiner": None})
    assert payload["combiner_preferred"] == ""


def test_bug5_session_payload_carries_rounds_and_validates():
    from fedn.network.storage.statestore.stores.dto.session import SessionConfigDTO

    from stacklab.federated.config import FLConfig
    from stacklab.federated.session import session_config

    payload = compat.session_create_payload(session_config(FLConfig(), "seed-id"), 4, "s")
    assert payload["session_config"]["rounds"] == 4
    dto = SessionConfigDTO()
    dto.populate_with(payload["session_config"])
    dto.check_validity()
    assert dto.rounds == 4


def _string_round_config() -> dict:
    # what the combiner gets over gRPC: every value str()-ed
    return {"aggregator": "fedavg", "aggregator_kwargs": "None", "round_timeout": "180", "buffer_size": "-1",
            "delete_models_storage": "True", "clients_required": "2", "requested_clients": "None",
            "validate": "True", "helper_type": "numpyhelper", "server_functions": "None", "model_id": "seed",
            "session_id": None, "task": "training", "round_id": "1", "rounds": "1", "is_sl_inference": "False"}


def test_bug6_round_config_strings_fixed():
    from fedn.network.storage.statestore.stores.sql.shared import RoundConfigModel

    fixed = compat.fix_round_config_strings(RoundConfigModel(**_string_round_config()))
    assert fixed.validate is True and fixed.delete_models_storage is True and fixed.is_sl_inference is False
    assert fixed.requested_clients is None and fixed.aggregator_kwargs is None


def test_bug6_round_update_with_combiner_strings_is_stored(tmp_path):
    """The combiner's round update on a real SQL store (SQLite here; the e2e test covers PostgreSQL)."""
    compat.coerce_round_config_booleans()
    from fedn.network.storage.statestore.stores.dto.round import RoundDTO
    from fedn.network.storage.statestore.stores.round_store import SQLRoundStore
    from fedn.network.storage.statestore.stores.sql.shared import MyAbstractBase
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    engine = create_engine(f"sqlite:///{tmp_path / 'r.sqlite'}")
    MyAbstractBase.metadata.create_all(engine)
    store = SQLRoundStore(sessionmaker(engine))
    store.add(RoundDTO(round_id="1", status="Pending"))
    active = store.get("1")
    active.combiners.append({
        "model_id": "m1", "name": "combiner1", "status": "Success", "time_exec_training": 1.0,
        "config": {**_string_round_config(), "_job_id": "j1"}, "round_id": "1",
        "data": {"nr_expected_updates": 2, "nr_required_updates": 2, "timeout": 180.0, "time_combination": 0.1,
                 "aggregation_time": {"nr_aggregated_models": 2, "time_model_aggregation": 0.01, "time_model_load": 0.01}},
    })
    store.update(active)
    stored = store.get("1").to_dict()["combiners"][0]["config"]
    assert stored["validate"] is True and stored["requested_clients"] is None


def test_bug8_latest_round_id_is_the_numeric_maximum(tmp_path):
    from fedn.network.storage.statestore.stores.dto.round import RoundDTO
    from fedn.network.storage.statestore.stores.round_store import SQLRoundStore
    from fedn.network.storage.statestore.stores.sql.shared import MyAbstractBase
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    engine = create_engine(f"sqlite:///{tmp_path / 'ids.sqlite'}")
    MyAbstractBase.metadata.create_all(engine)
    store = SQLRoundStore(sessionmaker(engine))
    assert store.get_latest_round_id() == 0
    for rid in range(1, 12):
        store.add(RoundDTO(round_id=str(rid), status="Finished"))
    compat.latest_round_id_as_number()
    assert store.get_latest_round_id() == 11  # upstream's text sort says 9, and the next session reuses 10


def test_bug7_token_sent_on_plain_grpc_channel():
    compat.grpc_token_on_plain_channel()
    from fedn.network.clients.grpc_handler import GrpcHandler

    handler = GrpcHandler(host="127.0.0.1", port=1, name="c", token="TOKEN", combiner_name="comb")
    try:
        assert ("authorization", "Bearer TOKEN") in handler.metadata
    finally:
        handler.channel.close()


def test_controller_polls_fast():
    compat.fast_controller_polling()
    from fedn.network.controller import control

    wait = control.wait_random(min=1.0, max=2.0)
    assert wait.wait_random_max <= compat.CONTROLLER_POLL_S[1]
    assert control.wait_random(min=0.1, max=1.0).wait_random_max == 1.0  # other waits untouched


def test_combiner_polls_fast():
    compat.fast_combiner_polling()
    from fedn.network.combiner.roundhandler import RoundHandler

    assert inspect.signature(RoundHandler.run, follow_wrapped=False).parameters["polling_interval"].default <= compat.COMBINER_POLL_S


@pytest.mark.parametrize("role", sorted(compat.ROLES))
def test_apply_is_idempotent(role):
    assert compat.apply(role) == compat.apply(role)


def test_bug5_apiclient_session_gets_rounds_and_validates():
    from fedn.network.storage.statestore.stores.dto.session import SessionConfigDTO

    # the body APIClient.start_session(name=..., rounds=1) sends to POST /api/v1/sessions/
    body = {"name": "n", "seed_model_id": "m", "session_config": {
        "aggregator": "fedavg", "aggregator_kwargs": None, "round_timeout": 180, "buffer_size": -1, "model_id": "m",
        "delete_models_storage": True, "clients_required": 1, "requested_clients": 8, "validate": True,
        "helper_type": "numpyhelper", "server_functions": None}}
    fixed = compat.fill_session_rounds(body)["session_config"]
    assert fixed["rounds"] == compat.APICLIENT_DEFAULT_ROUNDS
    dto = SessionConfigDTO()
    dto.populate_with(fixed)
    dto.check_validity()
    assert compat.fill_session_rounds({"session_config": {"rounds": 3}})["session_config"]["rounds"] == 3


def test_bug5_sessions_post_route_is_wrapped():
    compat.patch_session_create_route()
    payload = _payload_the_view_gets("session.post", "/api/v1/sessions/", {"session_config": {"aggregator": "fedavg"}})
    assert payload["session_config"]["rounds"] == compat.APICLIENT_DEFAULT_ROUNDS
    # /sessions/start is wrapped too; a body without a usable rounds passes through untouched
    started = _payload_the_view_gets("session.start_session", "/api/v1/sessions/start", {"session_id": "s", "rounds": "x"})
    assert started == {"session_id": "s", "rounds": "x"}
