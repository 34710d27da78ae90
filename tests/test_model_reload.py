"""POST /v1/admin/model/reload and the reload signal, through the Flask test client."""

from __future__ import annotations

import math
import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import joblib
import pytest
from flask.testing import FlaskClient

from fraudscreen.api import create_app, model_admin
from fraudscreen.config import REPO_DIR, Settings
from fraudscreen.model import ModelBundle
from fraudscreen.store import Store

from helpers import make_settings, order_body

SHIPPED = REPO_DIR / "models" / "default" / "model.joblib"


class _Marker:
    """Unpickling this creates a file: proof that a refused bundle was never opened."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


@pytest.fixture(scope="module")
def shipped() -> ModelBundle:
    if not SHIPPED.is_file():
        pytest.skip("no shipped model bundle")
    return ModelBundle.load(SHIPPED)


@pytest.fixture
def models(tmp_path: Path, shipped: ModelBundle) -> Path:
    folder = tmp_path / "models" / "current"
    shipped.version = "reload-a"
    shipped.save(folder / "model.joblib")
    shipped.version = "reload-b"
    shipped.save(folder / "candidate.joblib")
    return folder


@pytest.fixture
def settings(tmp_path: Path, models: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'var' / 'fraudscreen.db'}"
    settings = make_settings(tmp_path, url, model_path=str(models / "model.joblib"))
    store = Store(url)
    store.upgrade()
    store.close()
    return settings


@pytest.fixture
def client(settings: Settings) -> FlaskClient:
    app = create_app(settings)
    if "model_admin" not in app.blueprints:  # until the app factory registers it
        app.register_blueprint(model_admin.bp)
    return app.test_client()


@pytest.fixture
def keys(client: FlaskClient) -> dict[str, str]:
    store = client.application.extensions["fraudscreen"].store
    return {s: store.create_api_key(f"t-{s}", [s])[1] for s in ("score", "admin")}


def _reload(client: FlaskClient, key: str, body: Any = None) -> Any:
    return client.post("/v1/admin/model/reload", json=body,
                       headers={"Authorization": f"Bearer {key}"})


def _scored_version(client: FlaskClient, key: str, n: int) -> str:
    response = client.post("/v1/score", json=order_body(event__transaction_id=f"r-{n}"),
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    return response.get_json()["model_version"]  # type: ignore[no-any-return]


def test_reload_swaps_the_model_for_the_next_orders(client, keys, models) -> None:
    assert _scored_version(client, keys["score"], 1) == "reload-a"
    response = _reload(client, keys["admin"], {"path": str(models / "candidate.joblib")})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert (data["model_version"], data["previous_version"]) == ("reload-b", "reload-a")
    assert 0 <= data["thresholds"]["review"] < data["thresholds"]["reject"] <= 1
    assert _scored_version(client, keys["score"], 2) == "reload-b"
    # no body: back to the configured bundle
    response = client.post("/v1/admin/model/reload", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert response.status_code == 200 and response.get_json()["model_version"] == "reload-a"
    assert _scored_version(client, keys["score"], 3) == "reload-a"


def test_a_folder_or_a_path_relative_to_the_models_directory(client, keys) -> None:
    response = _reload(client, keys["admin"], {"path": "default"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["path"] == str(SHIPPED.resolve())


def test_reload_needs_the_admin_scope(client, keys) -> None:
    assert client.post("/v1/admin/model/reload").status_code == 401
    assert _reload(client, keys["score"]).status_code == 403


def test_paths_outside_the_allowed_folders_are_never_opened(client, keys, tmp_path, models) -> None:
    evil = tmp_path / "elsewhere" / "model.joblib"
    evil.parent.mkdir()
    marker = tmp_path / "unpickled"
    evil.write_bytes(pickle.dumps(_Marker(str(marker))))
    (models / "link.joblib").symlink_to(evil)
    for path in (str(evil), str(evil.parent), str(models / "link.joblib"),
                 str(models / ".." / ".." / "elsewhere" / "model.joblib"), "/etc/passwd",
                 "../../../../../../../etc/passwd", "x" * 5000 + ".joblib", "", 42):
        response = _reload(client, keys["admin"], {"path": path})
        assert response.status_code == 400, path
        assert response.get_json()["error"]["details"][0]["pointer"] == "/path"
    assert _reload(client, keys["admin"], ["not", "an", "object"]).status_code == 400
    assert not marker.exists()
    assert _scored_version(client, keys["score"], 4) == "reload-a"


def test_a_broken_bundle_keeps_the_current_model(client, keys, models, caplog) -> None:
    (models / "broken.joblib").write_bytes(b"not a joblib file")
    with caplog.at_level("WARNING", logger="fraudscreen"):
        response = _reload(client, keys["admin"], {"path": str(models / "broken.joblib")})
    assert response.status_code == 400
    assert "stays in use" in response.get_json()["error"]["message"]
    assert any("model reload by t-admin failed: model bundle unreadable" in r.getMessage()
               for r in caplog.records)  # the operator sees it, not only the caller
    missing = _reload(client, keys["admin"], {"path": str(models / "missing.joblib")})
    assert missing.status_code == 400
    assert _scored_version(client, keys["score"], 5) == "reload-a"
    assert client.get("/readyz").status_code == 200


def test_a_bundle_whose_calibration_gives_nan_keeps_the_current_model(client, keys, models) -> None:
    payload = joblib.load(models / "candidate.joblib")
    payload["calibration"]["prob_knots"] = [math.nan] * len(payload["calibration"]["prob_knots"])
    joblib.dump(payload, models / "nan.joblib")
    response = _reload(client, keys["admin"], {"path": str(models / "nan.joblib")})
    assert response.status_code == 400
    assert "probability knots" in response.get_json()["error"]["details"][0]["message"]
    assert _scored_version(client, keys["score"], 8) == "reload-a"
    assert client.get("/readyz").status_code == 200


def test_a_configured_model_folder_loads_its_bundle(tmp_path: Path, models: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'var' / 'fraudscreen.db'}",
                             model_path=str(models))
    store = Store(settings.resolved_database_url)
    store.upgrade()
    store.close()
    client = create_app(settings).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["model_version"] == "reload-a"
    # the shipped bundle's thresholds were chosen with the shipped rules, which are live here
    assert ready.get_json()["model_rules_version"] == ready.get_json()["rules_version"] is not None
    screener = client.application.extensions["fraudscreen"]
    screener.reload_model(models / "candidate.joblib")
    assert screener.reload_model().version == "reload-a"  # the configured folder again


def test_the_reload_signal_reloads_the_configured_bundle(client, keys, models) -> None:
    screener = client.application.extensions["fraudscreen"]
    screener.reload_model(models / "candidate.joblib")
    assert _scored_version(client, keys["score"], 6) == "reload-b"
    previous = signal.getsignal(signal.SIGHUP)
    try:
        model_admin.install_reload_signal(screener)
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 10
        while screener.parts.model.version != "reload-a" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert _scored_version(client, keys["score"], 7) == "reload-a"


def test_reload_files_swaps_each_part_that_loads_and_keeps_the_others(client, keys, settings, models, tmp_path) -> None:
    """What SIGHUP does in each worker: model, rules and GeoIP reloaded one by one; a part whose
    file does not load keeps what is in use, and says why."""
    screener = client.application.extensions["fraudscreen"]
    rules = tmp_path / "rules.toml"
    rules.write_text('version = "reload-rules-1"\n[[rule]]\nid = "big"\ncode = "BIG"\naction = "signal"\n'
                     'expression = "order.amount > 1000.0"\nmessage = "Big."\n', encoding="utf-8")
    screener.settings = settings.with_overrides(rules_path=rules)
    (models / "candidate.joblib").replace(models / "model.joblib")  # version reload-b in place
    done = screener.reload_files()
    assert done == {"model": "loaded reload-b", "rules": "loaded reload-rules-1",
                    "geoip": "loaded the databases"}
    answer = client.post("/v1/score", json=order_body(event__transaction_id="rf-1"),
                         headers={"Authorization": f"Bearer {keys['score']}"}).get_json()
    assert (answer["model_version"], answer["rules_version"]) == ("reload-b", "reload-rules-1")

    rules.write_text('version = "reload-rules-2"\n[[rule]]\nid = "broken"\n', encoding="utf-8")
    (models / "model.joblib").write_bytes(b"not a bundle")
    screener.settings = screener.settings.with_overrides(geoip_city_path=str(tmp_path / "none.mmdb"))
    done = screener.reload_files()
    assert all(what.startswith("kept what was in use: ") for what in done.values()), done
    answer = client.post("/v1/score", json=order_body(event__transaction_id="rf-2"),
                         headers={"Authorization": f"Bearer {keys['score']}"}).get_json()
    assert (answer["model_version"], answer["rules_version"]) == ("reload-b", "reload-rules-1")
    assert answer["ip_location"]["country"]  # the GeoIP readers in use still answer
    assert client.get("/readyz").status_code == 200


def test_a_geoip_reload_with_a_database_that_does_not_open_keeps_all_in_use(
    client, keys, settings, tmp_path, monkeypatch
) -> None:
    """An optional database (ASN, Anonymous-IP) that no longer opens keeps the readers in use
    too: dropping it would change what rules see, with /readyz still ready."""
    from fraudscreen import parts

    monkeypatch.setattr(parts, "GEOIP_CLOSE_DELAY", 0.05)
    screener = client.application.extensions["fraudscreen"]
    in_use = screener.parts.geoip
    screener.settings = settings.with_overrides(geoip_asn_path=str(tmp_path / "gone.mmdb"))
    done = screener.reload_files()
    assert done["geoip"].startswith("kept what was in use: asn database") and "gone.mmdb" in done["geoip"]
    assert screener.parts.geoip is in_use and screener.enricher.geoip is in_use and in_use.asn_available
    ready = client.get("/readyz").get_json()
    assert ready["geoip"]["asn"]["available"]  # /readyz: the same, the file without its folders
    assert ready["last_reload"]["parts"] == {**done, "geoip": done["geoip"].replace(f"{tmp_path}/", "")}

    screener.settings = settings
    assert screener.reload_files()["geoip"] == "loaded the databases"
    assert screener.parts.geoip is not in_use
    deadline = time.monotonic() + 5
    while in_use.city_available and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not in_use.city_available  # the replaced readers were closed, their files unmapped
    answer = client.post("/v1/score", json=order_body(event__transaction_id="geo-after"),
                         headers={"Authorization": f"Bearer {keys['score']}"}).get_json()
    assert answer["ip_location"]["country"]


def test_an_answer_never_shows_half_a_reload(tmp_path: Path) -> None:
    """An answer read the problems before and after its model and rules: a rules reload between
    gave RULES_UNAVAILABLE beside a rules version (11 answers in 5,000 under 4 threads)."""
    import threading

    from fraudscreen.parts import load_parts
    from fraudscreen.schema import parse_order
    from fraudscreen.screening import Screener

    rules = tmp_path / "rules.toml"
    rules.write_text('version = "r-1"\n', encoding="utf-8")  # valid: no rules at all
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}", rules_path=rules)
    Store(settings.resolved_database_url).upgrade()
    screener = Screener(settings, load_parts(settings))
    order, _ = parse_order(order_body())
    answers: list[Any] = []
    stop = threading.Event()

    def score() -> None:
        while not stop.is_set():
            answers.append(screener.evaluate(order, build_response=False).result)

    threads = [threading.Thread(target=score) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(150):  # rules gone (as a file that did not load at start), then reloaded
            screener.parts = screener.parts.swapped("rules", None, "the rules file does not load")
            time.sleep(0.001)
            screener.reload_rules()
            time.sleep(0.001)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(answers) > 100
    without = [a for a in answers if a.rules_version is None]
    assert without and len(without) < len(answers)  # both states were seen
    for answer in answers:
        codes = {r.code for r in answer.reasons}
        unavailable = "RULES_UNAVAILABLE" in codes
        assert unavailable == (answer.rules_version is None), answer
        assert unavailable == ("rules_unavailable" in {w.code for w in answer.warnings}), answer
