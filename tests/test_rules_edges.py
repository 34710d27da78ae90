"""Rule engine edges: roots read whole and by field, roots that are not mappings, the id and
expression length limits, the flat rewrite's fallback, list values at their limits."""

from __future__ import annotations

import pytest

from fraudscreen.errors import InvalidRequestError, RuleError
from fraudscreen.rules import (
    ListEntry,
    ListMatcher,
    Rule,
    RuleSet,
    build_context,
    normalise_list_value,
    validate_context,
)
from fraudscreen.rules.compile import MAX_EXPRESSION_LENGTH


# engine._merged_needs: a root read whole by one rule and field by field by a later one
def test_a_root_read_whole_then_by_field_is_read_whole() -> None:
    rules = [
        Rule("whole", "WHOLE", "signal", "size(profile) > 1", "Whole."),
        Rule("field", "FIELD", "review", "profile.orders_1h >= 4.0", "Field."),
    ]
    rule_set = RuleSet.from_rules("v", rules)
    assert rule_set.fields == frozenset({"profile"})
    evaluation = rule_set.evaluate(build_context({"profile": {"orders_1h": 5.0}}))
    assert [h.rule_id for h in evaluation.hits] == ["whole", "field"] and not evaluation.errors


# engine._fast_context: a root that is not a mapping falls back to the nested form
@pytest.mark.parametrize("bad", [None, [1, 2], "order", 7.0])
def test_a_root_that_is_not_a_mapping_fails_only_its_readers(bad: object) -> None:
    rules = [
        Rule("amount", "AMOUNT", "review", "order.amount > 100.0", "Amount."),
        Rule("gb", "GB", "signal", "ip.country == 'GB'", "GB."),
    ]
    rule_set = RuleSet.from_rules("v", rules)
    ctx = build_context({"ip": {"country": "GB"}})
    ctx["order"] = bad
    evaluation = rule_set.evaluate(ctx)  # never raises
    assert evaluation.errors == ("amount",) and evaluation.deciding_errors == ("amount",)
    assert [h.rule_id for h in evaluation.hits] == ["gb"]


# engine._ID_RE: ids are 1-64 characters, as the error message says
def test_rule_id_length_limit_is_64() -> None:
    RuleSet.from_rules("v", [Rule("a" * 64, "A", "signal", "ip.found", "A.")])
    with pytest.raises(RuleError, match="'id' must be"):
        RuleSet.loads(
            'version = "v"\n[[rule]]\nid = "' + "a" * 65 + '"\ncode = "A"\naction = "signal"\n'
            'expression = "ip.found"\nmessage = "A."\n'
        )


# compile.compile_rule: an expression of exactly MAX_EXPRESSION_LENGTH is accepted
def test_an_expression_of_exactly_the_limit_is_accepted() -> None:
    head = "ip.country == '"
    expression = head + "X" * (MAX_EXPRESSION_LENGTH - len(head) - 1) + "'"
    assert len(expression) == MAX_EXPRESSION_LENGTH
    rule_set = RuleSet.from_rules("v", [Rule("long", "LONG", "signal", expression, "Long.")])
    assert not rule_set.evaluate(build_context({"ip": {"country": "GB"}})).hits
    with pytest.raises(RuleError, match="longer than"):
        RuleSet.from_rules("v", [Rule("long", "LONG", "signal", expression + " ", "Long.")])


# compile._flatten: a rewrite that still reads the nested root must not be used
def test_a_half_rewritten_rule_keeps_the_nested_form() -> None:
    # The index form is not rewritten; the default context short-circuits before reaching it,
    # so only the variable check can tell the flat program is incomplete.
    rule = Rule("mixed", "MIXED", "review", "order.amount > 1.0 && order['currency'] == 'EUR'", "M.")
    rule_set = RuleSet.from_rules("v", [rule])
    evaluation = rule_set.evaluate(build_context({"order": {"amount": 5.0, "currency": "EUR"}}))
    assert not evaluation.errors
    assert [h.rule_id for h in evaluation.hits] == ["mixed"]


# compile.prune: a field missing from the context fails only the rules that read it
def test_a_missing_field_read_by_a_nested_rule_does_not_raise() -> None:
    rules = [
        Rule("index", "INDEX", "review", "order['currency'] == 'EUR'", "Index."),  # stays nested
        Rule("gb", "GB", "signal", "ip.country == 'GB'", "GB."),  # flat
    ]
    rule_set = RuleSet.from_rules("v", rules)
    ctx = build_context({"ip": {"country": "GB"}})
    del ctx["order"]["currency"]
    evaluation = rule_set.evaluate(ctx)
    assert evaluation.errors == ("index",)
    assert [h.rule_id for h in evaluation.hits] == ["gb"]


# context.validate_context: an unknown root is reported
def test_validate_context_reports_an_unknown_root() -> None:
    ctx = build_context()
    ctx["nosuch"] = {}
    with pytest.raises(RuleError, match="nosuch: unknown"):
        validate_context(ctx)


# lists.ListMatcher.match: an email_domain entry matches every subdomain, top label too
def test_a_top_level_domain_entry_matches_its_subdomains() -> None:
    matcher = ListMatcher([ListEntry("review", "email_domain", normalise_list_value("email_domain", "xyz"))])
    assert matcher.match(email_domain="mail.example.xyz")["review_matches"] == ["email_domain"]
    assert matcher.match(email_domain="xyz")["review"] is True
    assert matcher.match(email_domain="example.org")["review"] is False


# lists.normalise_list_value: ids up to _MAX_ID = 255 characters are accepted
def test_an_id_of_exactly_255_characters_is_accepted() -> None:
    assert normalise_list_value("device_id", "d" * 255) == "d" * 255
    with pytest.raises(InvalidRequestError):
        normalise_list_value("device_id", "d" * 256)


# lists._ip_value: the IPv4-mapped /96 is the IPv4 /0 and is refused like it
@pytest.mark.parametrize("value", ["::ffff:0:0/96", "::ffff:0.0.0.0/96"])
def test_the_ipv4_mapped_slash_96_is_refused_as_a_slash_0(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="/0 network"):
        normalise_list_value("ip", value)
    assert normalise_list_value("ip", "::ffff:10.0.0.0/104") == "10.0.0.0/8"
