"""The README's score examples give the answers the README shows (bundled GeoIP, shipped model)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from fraudscreen.api import create_app
from fraudscreen.config import REPO_DIR, Settings
from fraudscreen.logs import reset_logging

README = (REPO_DIR / "README.md").read_text()


def _example_body() -> dict[str, Any]:
    match = re.search(r"-d '(\{.*?\})'\n```", README, flags=re.DOTALL)
    assert match, "the README's curl example is gone"
    body: dict[str, Any] = json.loads(match.group(1))
    return body


def _shown_answers() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(\{.*?\})\n```", README, flags=re.DOTALL)
    return [json.loads(b) for b in blocks[:2]]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("var"))  # the embedded defaults
    from fraudscreen.store import Store

    Store(settings.resolved_database_url).upgrade()
    app = create_app(settings)
    app.config["README_KEY"] = app.extensions["fraudscreen"].sql_store.create_api_key("readme", ["score"])[1]
    yield app.test_client()
    reset_logging()
    app.extensions["fraudscreen"].store.close()


def _score(client: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    key = client.application.config["README_KEY"]
    response = client.post("/v1/score", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def _same(answer: dict[str, Any], shown: dict[str, Any]) -> None:
    for key in ("decision", "risk_score", "disposition", "reasons", "model_version", "rules_version"):
        if key in shown:
            assert answer[key] == shown[key], key


def test_first_example_answer(client: FlaskClient) -> None:
    shown = _shown_answers()[0]
    answer = _score(client, _example_body())
    _same(answer, shown)
    assert answer["ip_location"]["country"] == shown["ip_location"]["country"] == "GB"
    assert answer["ip_location"]["city"] == shown["ip_location"]["city"]


def test_second_example_answer(client: FlaskClient) -> None:
    """The prose under the first answer: same IP, 20 s after sign-up, disposable mail, US billing."""
    _score(client, _example_body())  # the first order comes first (a retry if it ran already)
    body = copy.deepcopy(_example_body())
    body["event"] = {"transaction_id": "order-1002", "time": "2026-11-24T10:15:20Z"}
    body["account"] = {"user_id": "cust-43", "created_at": "2026-11-24T10:15:00Z"}
    body["email"] = {"address": "qwe123@mailinator.com"}
    body["billing"] = {"country": "US", "city": "Dallas"}
    body["credit_card"].update(country="US", cvv_result="N")
    body["order"] = {"amount": 349.0, "currency": "USD"}
    body["shopping_cart"] = [{"category": "dedicated", "item_id": "ded-1", "quantity": 1, "price": 349.0}]
    assert "qwe123@mailinator.com" in README and '"Dallas"' in README
    _same(_score(client, body), _shown_answers()[1])


def test_readme_files_exist() -> None:
    for path in ("docs/backtest.md", "docs/privacy.md", "data/README.md", "benchmarks/README.md"):
        assert (REPO_DIR / path).is_file(), path
    assert Path(REPO_DIR / "models" / "default" / "MODEL_CARD.md").is_file()


def test_quoted_backtest_figures_are_the_shipped_cards() -> None:
    """The README's held-out figures are those of models/default/model_card.json and docs/backtest.md."""
    card = json.loads((REPO_DIR / "models" / "default" / "model_card.json").read_text())
    combined = card["backtest"]["systems"]["combined"]
    match = re.search(r"the service flags ([\d.]+)% of orders and catches (\d+)% of the\s+fraud", README)
    assert match, "the README no longer quotes the shipped model's held-out figures"
    assert float(match.group(1)) == round(100 * combined["flagged_share"], 1)
    assert int(match.group(2)) == round(100 * combined["flagged_recall"])
    later = re.search(r"there the model alone catches (\d+)% of the\s+fraud at the review capacity, "
                      r"against (\d+)% with every label", README)
    docs = (REPO_DIR / "docs" / "backtest.md").read_text()
    known = re.search(r"figures\s+go\s+from\s+ROC\s+AUC\s+[\d.]+,\s+average\s+precision\s+[\d.]+\s+and\s+"
                      r"recall\s+at\s+capacity\s+([\d.]+)\s+to\s+([\d.]+),\s+([\d.]+)\s+and\s+([\d.]+)", docs)
    assert later and known
    assert float(known.group(1)) == round(card["backtest"]["systems"]["model"]["recall_at_capacity"], 2)
    assert int(later.group(1)) == round(100 * float(known.group(4)))
    assert int(later.group(2)) == round(100 * card["backtest"]["systems"]["model"]["recall_at_capacity"])
    # the card's own figures of a retrain with the labels known at the test start are the docs'
    as_a_retrain = card["metrics_held_out_as_a_retrain"]
    assert float(known.group(2)) == round(as_a_retrain["roc_auc"], 3)
    assert float(known.group(3)) == round(as_a_retrain["average_precision"], 3)


def test_every_setting_is_in_the_readme_s_table() -> None:
    from dataclasses import fields

    from fraudscreen.config import ENV_PREFIX, Settings

    missing = [f.name for f in fields(Settings) if f"`{ENV_PREFIX}{f.name.upper()}`" not in README]
    assert not missing, f"settings without a line in the README's configuration table: {missing}"


def test_readme_lists_the_backtest_report_s_top_level_keys() -> None:
    """The README's table of the `--json` report names exactly the top-level keys of the full
    table in docs/backtest.md (which test_backtest checks against a real report)."""
    docs = (REPO_DIR / "docs" / "backtest.md").read_text()
    documented = {key for key in re.findall(r"^\| `([^`]+)` \|", docs, flags=re.MULTILINE)
                  if "." not in key and "[" not in key}
    table = README.split("The `--json` report's keys are a stable interface", 1)[1].split("\n\n")[1]
    listed = set()
    for row in table.splitlines()[2:]:
        listed |= set(re.findall(r"`([^`]+)`", row.split(" | ")[0]))
    assert listed == documented
