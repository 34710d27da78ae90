"""The rule engine's fast path (``root__field`` variables) gives what the nested context gives."""

from __future__ import annotations

import random

from fraudscreen.rules import SCHEMA, Rule, RuleSet, build_context, empty_context
from fraudscreen.rules.compile import prune

DEFAULT = RuleSet.load_default()


def _nested_answer(rule_set: RuleSet, ctx: dict) -> tuple[list[str], list[str]]:
    """(hits, errors) running each rule's original program on its own nested context."""
    hits, errors = [], []
    for c in rule_set._compiled:
        try:
            result = c.program.execute(prune(c.needs, ctx))
        except Exception:  # noqa: BLE001
            errors.append(c.rule.id)
            continue
        if result is True:
            hits.append(c.rule.id)
        elif result is not False:
            errors.append(c.rule.id)
    return hits, errors


def _random_context(rng: random.Random) -> dict:
    ctx = empty_context()
    for root, fields in SCHEMA.items():
        for name, f in fields.items():
            if f.type == "bool":
                ctx[root][name] = rng.random() < 0.5
            elif f.type == "double":
                ctx[root][name] = rng.choice([-1.0, 0.0, 0.005, 1.0, 2.0, 3.0, 5.0, 250.0, 2000.0])
            elif f.type == "string":
                ctx[root][name] = rng.choice(["", "N", "Y", "GB", "HeadlessChrome", "Safari"])
            else:
                ctx[root][name] = rng.sample(["vps", "domain", "ssl"], rng.randint(0, 2))
    return ctx


def test_every_default_rule_runs_flat() -> None:
    flat = [c.rule.id for c in DEFAULT._compiled if c.flat is not None]
    assert flat == [c.rule.id for c in DEFAULT._compiled]
    assert all("." not in name for c in DEFAULT._compiled for _, _, name in c.flat_paths)


def test_flat_and_nested_agree_on_random_contexts() -> None:
    rng = random.Random(7)
    fired = set()
    for _ in range(400):
        ctx = _random_context(rng)
        evaluation = DEFAULT.evaluate(ctx)
        hits, errors = _nested_answer(DEFAULT, ctx)
        assert [h.rule_id for h in evaluation.hits] == hits
        assert list(evaluation.errors) == errors == []
        fired.update(hits)
    assert len(fired) >= len(DEFAULT._compiled) - 1  # the contexts exercise nearly every rule


def test_rules_that_cannot_be_flattened_keep_the_nested_form() -> None:
    rules = [
        Rule("has", "HAS", "signal", "has(email.domain) && email.domain == 'x.io'", "Has."),
        Rule("whole", "WHOLE", "signal", "size(order) > 1 && ip.found", "Whole."),
        Rule("index", "INDEX", "signal", "card['cvv_result'] == 'N'", "Index."),
        Rule("lit", "LIT", "signal", "email.domain == 'ip.country' || ip.country == 'GB'", "Lit."),
        Rule("method", "METHOD", "signal", "device.browser.startsWith('Headless')", "M."),
    ]
    rule_set = RuleSet.from_rules("v", rules)
    flat = {c.rule.id: c.flat for c in rule_set._compiled}
    assert flat["has"] is None and flat["whole"] is None and flat["index"] is None
    assert flat["lit"] is not None and "'ip.country'" in flat["lit"].source
    assert flat["method"] is not None
    ctx = build_context(
        {
            "email": {"domain": "ip.country"},
            "card": {"cvv_result": "N"},
            "device": {"browser": "HeadlessChrome"},
            "ip": {"found": True},
        }
    )
    assert [h.rule_id for h in rule_set.evaluate(ctx).hits] == ["whole", "index", "lit", "method"]
    ctx["email"]["domain"] = "x.io"
    ctx["ip"]["country"] = "FR"
    assert [h.rule_id for h in rule_set.evaluate(ctx).hits] == ["has", "whole", "index", "method"]


def test_missing_root_falls_back_to_nested_errors() -> None:
    ctx = build_context({"lists": {"review": True}})
    del ctx["profile"]
    evaluation = DEFAULT.evaluate(ctx)
    readers = {c.rule.id for c in DEFAULT._compiled if any(r == "profile" for r, _ in c.needs)}
    hits, errors = _nested_answer(DEFAULT, ctx)
    assert set(evaluation.errors) == set(errors) and set(errors) <= readers and errors
    assert [h.rule_id for h in evaluation.hits] == hits
