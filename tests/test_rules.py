"""Tests of fraudscreen.rules: common checks over every default rule, the engine, the lists."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import cel
import pytest

from fraudscreen.errors import InvalidRequestError, RuleError
from fraudscreen.rules import (
    SCHEMA,
    ListEntry,
    ListMatcher,
    Rule,
    RuleEvaluation,
    RuleHit,
    RuleSet,
    build_context,
    empty_context,
    engine,
    make_list_entry,
    normalise_list_value,
    strongest_action,
    validate_context,
)
from fraudscreen.rules import compile as compile_module
from fraudscreen.rules.compile import MAX_EXPRESSION_LENGTH
from fraudscreen.rules.engine import on_rule_error

DEFAULT_TOML = Path(__file__).parents[1] / "fraudscreen" / "rules" / "default.toml"
DEFAULT = RuleSet.load_default()
RULES = DEFAULT.rules
RULE_IDS = [r.id for r in RULES]

# The reason codes integrators see are a public contract: changing one is a breaking change.
EXPECTED_CODES = {
    "allowlisted": "ALLOWLISTED",
    "blocklisted": "BLOCKLISTED",
    "review_list": "REVIEW_LIST",
    "anonymous_ip_new_account": "ANONYMOUS_IP_NEW_ACCOUNT",
    "ip_billing_far": "IP_BILLING_FAR",
    "disposable_email": "DISPOSABLE_EMAIL",
    "device_shared_accounts": "DEVICE_SHARED_ACCOUNTS",
    "ip_shared_accounts": "IP_SHARED_ACCOUNTS",
    "card_shared_accounts": "CARD_SHARED_ACCOUNTS",
    "velocity_1h": "VELOCITY_1H",
    "many_cards": "MANY_CARDS",
    "prior_fraud": "PRIOR_FRAUD",
    "prior_chargeback": "PRIOR_CHARGEBACK",
    "card_billing_mismatch": "CARD_BILLING_MISMATCH",
    "cvv_mismatch": "CVV_MISMATCH",
    "automated_client": "AUTOMATED_CLIENT",
    "new_account_high_value": "NEW_ACCOUNT_HIGH_VALUE",
}

POSITIVE: dict[str, list[dict]] = {
    "allowlisted": [{"lists": {"allow": True, "allow_matches": ["ip"]}}],
    "blocklisted": [{"lists": {"block": True, "block_matches": ["email_domain"]}}],
    "review_list": [{"lists": {"review": True, "review_matches": ["bin"]}}],
    "anonymous_ip_new_account": [
        {"account": {"is_new": True}, "ip": {"is_tor_exit_node": True, "is_anonymous": True}},
        {"account": {"is_new": True}, "ip": {"is_anonymous_vpn": True, "is_anonymous": True}},
        {"account": {"is_new": True}, "ip": {"is_residential_proxy": True}},
    ],
    "ip_billing_far": [
        {"mismatch": {"ip_billing_country": True}, "ip": {"distance_to_billing_km": 5000.0}}
    ],
    "disposable_email": [
        {"email": {"present": True, "is_disposable": True, "domain": "mailinator.com"}},
        # the domain alone, as a checkout keeping to minimum data sends it: `present` is false
        {"email": {"present": False, "is_disposable": True, "domain": "mailinator.com"}},
    ],
    "device_shared_accounts": [
        {"device": {"id_present": True}, "profile": {"device_accounts_1d": 3.0}}
    ],
    "ip_shared_accounts": [{"profile": {"ip_accounts_1d": 5.0}}],
    "card_shared_accounts": [{"card": {"present": True}, "profile": {"card_accounts_1d": 2.0}}],
    "velocity_1h": [{"profile": {"orders_1h": 4.0}}],
    "many_cards": [{"profile": {"distinct_cards_30d": 3.0}, "account": {"age_days": 2.0}}],
    "prior_fraud": [{"profile": {"fraud_reports": 1.0}}, {"profile": {"fraud_reports": 2.0}}],
    "prior_chargeback": [{"profile": {"chargebacks": 1.0}}],
    "card_billing_mismatch": [{"mismatch": {"card_billing_country": True}}],
    "cvv_mismatch": [{"card": {"present": True, "cvv_result": "N"}}],
    "automated_client": [{"device": {"is_bot": True}}, {"device": {"browser": "HeadlessChrome"}}],
    "new_account_high_value": [
        {"account": {"age_days": 0.005, "is_new": True}, "order": {"amount_usd": 250.0}}
    ],
}

NEGATIVE: dict[str, list[dict]] = {
    "allowlisted": [{"lists": {"block": True}}],
    "blocklisted": [{"lists": {"review": True, "allow": True}}],
    "review_list": [{"lists": {"block": True}}],
    "anonymous_ip_new_account": [
        {"ip": {"is_tor_exit_node": True, "is_anonymous": True}, "account": {"age_days": 400.0}},
        {"account": {"is_new": True}, "ip": {"is_hosting_provider": True, "is_anonymous": True}},
    ],
    "ip_billing_far": [
        {"mismatch": {"ip_billing_country": True}, "ip": {"distance_to_billing_km": 500.0}},
        {"mismatch": {"ip_billing_country": True}},  # distance unknown (-1)
        {"ip": {"distance_to_billing_km": 5000.0}},  # far, same country
    ],
    "disposable_email": [{"email": {"present": True, "is_free": True}}],
    "device_shared_accounts": [
        {
            "device": {"id_present": True},
            "profile": {"device_accounts_1d": 2.0, "device_accounts_ever": 50.0},
        },
        {"profile": {"device_accounts_1d": 10.0}},
    ],
    "ip_shared_accounts": [
        {"profile": {"ip_accounts_1d": 4.0, "ip_accounts_ever": 100.0}},
        {"ip": {"is_private": True}, "profile": {"ip_accounts_1d": 50.0}},
    ],
    "card_shared_accounts": [{"card": {"present": True}, "profile": {"card_accounts_1d": 1.0}}],
    "velocity_1h": [{"profile": {"orders_1h": 3.0, "orders_24h": 20.0}}],
    "many_cards": [
        {"profile": {"distinct_cards_30d": 5.0}, "account": {"age_days": 400.0}},
        {"profile": {"distinct_cards_30d": 5.0}},  # age unknown (-1)
        {"profile": {"distinct_cards_30d": 2.0}, "account": {"age_days": 2.0}},
    ],
    "prior_fraud": [{"profile": {"chargebacks": 3.0, "not_fraud_reports": 1.0}}],
    "prior_chargeback": [{"profile": {"refunds": 3.0, "fraud_reports": 0.0, "prior_rejects": 1.0}}],
    "card_billing_mismatch": [
        {"mismatch": {"billing_shipping_country": True, "ip_billing_country": True}}
    ],
    "cvv_mismatch": [{"card": {"present": True, "cvv_result": "Y"}}, {"card": {"present": True}}],
    "automated_client": [{"device": {"browser": "Chrome", "os": "Linux", "type": "desktop"}}],
    "new_account_high_value": [
        {"account": {"age_days": 0.005}, "order": {"amount_usd": 150.0}},
        {"account": {"age_days": 0.5}, "order": {"amount_usd": 5000.0}},
        {"order": {"amount_usd": 5000.0}},  # age unknown (-1)
    ],
}


def _hit_ids(ctx: dict) -> list[str]:
    evaluation = DEFAULT.evaluate(ctx)
    assert evaluation.errors == ()
    return [h.rule_id for h in evaluation.hits]


# ---------------------------------------------------------------- common checks over every rule


def test_default_file_loads_with_expected_rules() -> None:
    assert DEFAULT.version == "2026-12-07.1"
    assert DEFAULT.sha256 == hashlib.sha256(DEFAULT_TOML.read_bytes()).hexdigest()
    assert RuleSet.load(DEFAULT_TOML).sha256 == DEFAULT.sha256
    assert {r.id: r.code for r in RULES} == EXPECTED_CODES


def test_every_rule_has_positive_and_negative_cases() -> None:
    assert set(POSITIVE) == set(RULE_IDS) == set(NEGATIVE)


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_compiles_alone(rule: Rule) -> None:
    single = RuleSet.from_rules("t", [rule])
    assert single.rules == (rule,)
    assert cel.compile(rule.expression).variables()  # every default rule reads the context


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_is_bool_and_quiet_on_empty_context(rule: Rule) -> None:
    result = cel.compile(rule.expression).execute(empty_context())
    assert result is False  # the defaults describe an unremarkable order
    assert RuleSet.from_rules("t", [rule]).evaluate(empty_context()).errors == ()


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_is_deterministic(rule: Rule) -> None:
    single = RuleSet.from_rules("t", [rule])
    for overrides in POSITIVE[rule.id] + NEGATIVE[rule.id]:
        ctx = build_context(overrides)
        assert single.evaluate(ctx) == single.evaluate(ctx)


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_code_and_message(rule: Rule) -> None:
    assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", rule.code)
    assert sum(r.code == rule.code for r in RULES) == 1
    assert rule.message.strip() and rule.message == rule.message.strip()
    assert "@" not in rule.message and "{" not in rule.message  # fixed text, no personal data
    assert rule.action in ("allow", "reject", "review", "signal")


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_positive_cases(rule_id: str) -> None:
    for overrides in POSITIVE[rule_id]:
        ctx = build_context(overrides)
        validate_context(ctx)
        assert rule_id in _hit_ids(ctx), overrides


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_negative_cases(rule_id: str) -> None:
    for overrides in NEGATIVE[rule_id]:
        ctx = build_context(overrides)
        validate_context(ctx)
        assert rule_id not in _hit_ids(ctx), overrides


# ---------------------------------------------------------------- precedence


def _hit(action: str) -> RuleHit:
    return RuleHit(f"r_{action}", action.upper(), action, "m")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["review", "reject", "allow"], "allow"),
        (["reject", "review"], "reject"),
        (["signal", "review", "signal"], "review"),
        (["signal"], None),
        ([], None),
    ],
)
def test_strongest_action(actions: list[str], expected: str | None) -> None:
    assert strongest_action([_hit(a) for a in actions]) == expected


def test_decision_from_default_rules() -> None:
    everything = build_context({"lists": {"allow": True, "block": True, "review": True}})
    assert DEFAULT.evaluate(everything).decision == "accept"
    blocked = build_context({"lists": {"block": True, "review": True}, "device": {"is_bot": True}})
    assert DEFAULT.evaluate(blocked).decision == "reject"
    review = build_context(
        {"email": {"present": True, "is_disposable": True}, "mismatch": {"card_billing_country": True}}
    )
    assert DEFAULT.evaluate(review).decision == "review"
    signals_only = build_context(
        {"mismatch": {"card_billing_country": True}, "profile": {"ip_accounts_1d": 9.0}}
    )
    evaluation = DEFAULT.evaluate(signals_only)
    assert [h.code for h in evaluation.hits] == ["IP_SHARED_ACCOUNTS", "CARD_BILLING_MISMATCH"]
    assert evaluation.decision is None


# ---------------------------------------------------------------- load errors


def _toml(
    expression: str, *, rule_id: str = "my_rule", action: str = "review", extra: str = ""
) -> str:
    return (
        'version = "v1"\n[[rule]]\n'
        f'id = "{rule_id}"\ncode = "MY_RULE"\naction = "{action}"\n'
        f"expression = '{expression}'\nmessage = \"Text.\"\n{extra}"
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (_toml("order.amount >"), "does not compile"),
        (_toml("nosuch.thing > 1.0"), "unknown variable 'nosuch'"),
        (_toml("order.amout > 1.0"), "unknown variable order.amout"),
        (_toml('order["amout"] > 1.0'), "unknown variable order.amout"),
        (_toml("order.amount"), "must return a bool"),
        (_toml("order.amount + 1 > 2.0"), "fails on the default context"),
        (_toml("max(order.amount, 1.0) > 2.0"), "unsupported function 'max'"),
        (_toml('order.categories.exists(ip, ip == "vps")'), "shadows context variable 'ip'"),
        (_toml("lists.block", action="deny"), "action must be one of"),
        (_toml("lists.block", extra="enable = false\n"), "unknown key 'enable'"),
        (_toml("lists.block", extra='enabled = "no"\n'), "'enabled' must be true or false"),
        (_toml("lists.block").replace('"MY_RULE"', '"myRule"'), "UPPER_SNAKE"),
        (
            _toml("lists.block").replace('message = "Text."', 'message = " "'),
            "'message' must be a non-empty",
        ),
        (_toml("lists.block").replace("Text.", "Ask jane.doe@example.org"), "'message' must not hold an e-mail"),
        (_toml("lists.block").replace("Text.", "Card 4111 1111 1111 1111"), "'message' must not hold an e-mail"),
        (_toml("lists.block").replace("Text.", "A\\r\\nFORGED LOG"), "'message' must be one line"),
        (_toml("lists.block").replace("Text.", "Seen \\u202egnp.exe"), "'message' must not hold direction overrides"),
        (_toml("lists.block").replace("Text.", "x" * 301), "'message' must be at most 300 characters"),
        (_toml("lists.block") + _toml("lists.allow").split("\n", 1)[1], "duplicate id"),
        (
            _toml("lists.block") + _toml("lists.allow", rule_id="other").split("\n", 1)[1],
            "rule 'other': duplicate code 'MY_RULE'",
        ),
    ],
)
def test_bad_rules_raise_rule_error_naming_the_rule(text: str, fragment: str) -> None:
    with pytest.raises(RuleError, match="rule '") as info:
        RuleSet.loads(text)
    assert fragment in str(info.value)


def test_bad_rules_file() -> None:
    with pytest.raises(RuleError, match="not valid TOML"):
        RuleSet.loads('version = "v1"\n[[rule]\nid = "x"\n')
    with pytest.raises(RuleError, match="'version' must be"):
        RuleSet.loads(_toml("lists.block").replace('version = "v1"', ""))
    with pytest.raises(RuleError, match="'version' must not hold an e-mail address"):
        RuleSet.loads(_toml("lists.block").replace('version = "v1"', 'version = "by jane@example.org"'))


def test_an_expression_that_does_not_compile_is_not_quoted_in_the_error() -> None:
    """The error reaches /readyz, which needs no key: the expression's literals stay out of it."""
    text = _toml('ip.address == "81.2.69.142" && email.domain == "jane@example.org" ||')
    with pytest.raises(RuleError, match=r"rule 'my_rule': expression does not compile: line 1, column \d+: "
                       r"Syntax error") as info:
        RuleSet.loads(text)
    assert "81.2.69.142" not in str(info.value) and "jane@" not in str(info.value)
    # a token the parser names, a second line, a literal in a run-time error: none is quoted
    for expression, shown in [
        ("card.bin == '411111' 4111111111111111", "line 1, column 22: Syntax error: extraneous input"),
        ("email.domain == 'jane@example.org' ||\n card.bin == '1' )", "line 2, column 18: Syntax error"),
        ("email.domain.matches('jane@example.org(')", "RuntimeError: Function 'matches' error: '…' not a"),
        ("{'a': 1}['4111111111111111'] > 0", "KeyError: '…'"),
    ]:
        with pytest.raises(RuleError) as info:
            RuleSet.loads('version = "v1"\n[[rule]]\nid = "my_rule"\ncode = "MY_RULE"\naction = "review"\n'
                          f'message = "Text."\nexpression = """{expression}"""\n')
        assert shown in info.value.message and "\n" not in info.value.message
        assert not any(s in info.value.message for s in ("jane@", "4111111111111111", "411111"))
    with pytest.raises(RuleError, match="unknown top-level key 'rules'"):
        RuleSet.loads('version = "v1"\n[[rules]]\nid = "x"\n')
    with pytest.raises(RuleError, match="cannot be read"):
        RuleSet.load("/nonexistent/rules.toml")


def _long_list_toml(n: int) -> str:
    """A rule with an ``ip.address in [...]`` list of ``n`` addresses and a stray ``]`` at the end."""
    ips = ", ".join(f'"10.0.{i // 256}.{i % 256}"' for i in range(n))
    return (
        'version = "v1"\n[[rule]]\nid = "bad_ips"\ncode = "BAD_IPS"\naction = "reject"\n'
        f'expression = """ip.address in [{ips},]]"""\nmessage = "Text."\n'
    )


def test_an_expression_longer_than_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(RuleError, match="rule 'bad_ips': expression is longer than 64000"):
        RuleSet.loads(_long_list_toml(5000))
    ips = ", ".join(f'"10.0.{i // 256}.{i % 256}"' for i in range(3000))  # ~45 000 characters
    fits = RuleSet.from_rules("v", [Rule("ips", "IPS", "reject", f"ip.address in [{ips}]", "T.")])
    assert fits.evaluate(build_context({"ip": {"address": "10.0.11.183"}})).decision == "reject"
    assert MAX_EXPRESSION_LENGTH < 65_535  # the column beyond which the cel parser panics


def test_a_rule_too_slow_for_the_scoring_path_is_refused_when_it_loads() -> None:
    """cel holds the GIL while it runs: a 3 s rule stalled every request of its worker."""
    values = "[" + ", ".join(map(str, range(100))) + "]"
    slow = f"{values}.all(a, {values}.all(b, {values}.all(c, a + b + c >= 0)))"  # a million steps
    with pytest.raises(RuleError, match=r"rule 'my_rule': takes [\d.]+ s on the default context, more than 50 ms"):
        RuleSet.loads(_toml(slow))


def test_a_panic_of_the_cel_parser_is_a_rule_error_naming_the_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without the length limit, the real parser panics (pyo3 PanicException, a BaseException)
    # on a syntax error beyond column 65535: it must still be a RuleError, not a dead worker.
    monkeypatch.setattr(compile_module, "MAX_EXPRESSION_LENGTH", 10**6)
    with pytest.raises(RuleError, match="rule 'bad_ips': expression does not compile") as info:
        RuleSet.loads(_long_list_toml(5000))
    assert not isinstance(info.value.__cause__, Exception)  # it was the panic that was caught


def test_disabled_rule_is_checked_but_not_run() -> None:
    rules = [
        Rule("on", "ON", "review", "lists.review", "On."),
        Rule("off", "OFF", "reject", "lists.review", "Off.", False),
    ]
    rule_set = RuleSet.from_rules("v", rules)
    assert [
        h.rule_id for h in rule_set.evaluate(build_context({"lists": {"review": True}})).hits
    ] == ["on"]
    with pytest.raises(RuleError, match="rule 'off'"):
        RuleSet.from_rules("v", [Rule("off", "OFF", "reject", "lists.nope", "Off.", False)])


def test_from_rules_hash_follows_content() -> None:
    rule = Rule("a", "A", "review", "lists.review", "A.")
    assert RuleSet.from_rules("v", [rule]).sha256 == RuleSet.from_rules("v", [rule]).sha256
    assert RuleSet.from_rules("v", [rule]).sha256 != RuleSet.from_rules("v2", [rule]).sha256


# ---------------------------------------------------------------- run-time errors


def test_runtime_type_error_is_recorded_not_raised() -> None:
    rule_set = RuleSet.from_rules(
        "v",
        [
            Rule("doubles", "DOUBLES", "review", "order.amount * 2.0 > 10.0", "Big."),
            Rule(
                "ternary", "TERNARY", "review", "account.is_new ? 1 : false", "Not a bool when new."
            ),
            Rule("fine", "FINE", "signal", "order.item_count > 1.0", "Many items."),
        ],
    )
    ctx = build_context(
        {"order": {"amount": 50, "item_count": 3.0}, "account": {"is_new": True}}
    )  # int amount
    evaluation = rule_set.evaluate(ctx)
    assert evaluation.errors == ("doubles", "ternary")
    assert [h.rule_id for h in evaluation.hits] == ["fine"]
    assert rule_set.errors == {"doubles": 1, "ternary": 1}
    ctx["order"]["amount"] = 50.0
    ctx["account"]["is_new"] = False
    assert [h.rule_id for h in rule_set.evaluate(ctx).hits] == ["doubles", "fine"]


FAILING_ON_SOME_ORDERS = [  # each passes the load checks and fails on the order below
    Rule("zero_div", "ZERO_DIV", "reject",
         "profile.prior_orders > 0.0 && int(order.amount) / int(profile.prior_orders - 1.0) > 9",
         "Division."),
    Rule("types", "TYPES", "review", "order.amount > 1000.0 ? order.currency > 1.0 : false",
         "String against number."),
    Rule("overflow", "OVERFLOW", "allow", "order.amount > 1000.0 && int(order.amount * 1e300) > 0",
         "Overflow."),
    Rule("regex", "REGEX", "signal",
         'device.browser != "" && email.domain.matches(device.browser)', "Pattern from data."),
]


def test_rules_that_fail_on_some_orders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_error_listeners", [])
    seen: list[str] = []
    on_rule_error(seen.append)
    rule_set = RuleSet.from_rules("v", FAILING_ON_SOME_ORDERS)
    quiet = build_context({"order": {"amount": 10.0}, "profile": {"prior_orders": 3.0}})
    assert rule_set.evaluate(quiet) == RuleEvaluation((), (), ())
    ctx = build_context(
        {
            "order": {"amount": 2000.0, "currency": "GBP"},
            "profile": {"prior_orders": 1.0},
            "device": {"browser": "Fire(fox"},
            "email": {"domain": "example.org"},
        }
    )
    evaluation = rule_set.evaluate(ctx)
    assert evaluation.hits == ()
    assert evaluation.errors == ("zero_div", "types", "overflow", "regex")
    # the rules that could have stopped the order; a failed allow rule simply did not allow
    assert evaluation.deciding_errors == ("zero_div", "types")
    assert seen == ["zero_div", "types", "overflow", "regex"]
    assert rule_set.errors == {"zero_div": 1, "types": 1, "overflow": 1, "regex": 1}


class _Panic(BaseException):
    """What pyo3 raises when the Rust library panics: a BaseException, not an Exception."""


class _PanickingProgram:
    def execute(self, context: object) -> bool:
        raise _Panic("Formatting argument out of range")


def test_a_panic_at_run_time_is_a_rule_error_and_interrupts_are_not() -> None:
    # The library panics in no known expression at run time: a program stands in for one.
    rule_set = RuleSet.from_rules("v", [Rule("p", "P", "review", "order.amount > 1.0", "P.")])
    rule_set._programs = (_PanickingProgram(),)
    evaluation = rule_set.evaluate(build_context({"order": {"amount": 5.0}}))
    assert (evaluation.errors, evaluation.deciding_errors) == (("p",), ("p",))

    class _Interrupted(_PanickingProgram):
        def execute(self, context: object) -> bool:
            raise KeyboardInterrupt

    rule_set._programs = (_Interrupted(),)
    with pytest.raises(KeyboardInterrupt):
        rule_set.evaluate(build_context({"order": {"amount": 5.0}}))


def test_missing_key_and_unconvertible_value_fail_only_their_rules() -> None:
    ctx = build_context({"lists": {"block": True}})
    del ctx["profile"]["orders_1h"]
    ctx["card"]["cvv_result"] = {"N"}  # a set: CEL cannot convert it
    evaluation = DEFAULT.evaluate(ctx)
    assert set(evaluation.errors) == {"velocity_1h", "cvv_mismatch"}
    assert evaluation.decision == "reject"


def test_rule_set_reads_only_the_fields_it_needs() -> None:
    assert "lists.block" in DEFAULT.fields and "profile.orders_1h" in DEFAULT.fields
    assert "profile.refunds" not in DEFAULT.fields
    whole = RuleSet.from_rules("v", [Rule("a", "A", "signal", "size(order) > 100", "A.")])
    assert whole.fields == frozenset({"order"})
    method = RuleSet.from_rules("v", [Rule("m", "M", "signal", "lists.exists(k, k == 'x')", "M.")])
    assert method.fields == frozenset({"lists"})


def test_string_literals_are_not_taken_for_variables() -> None:
    expression = (
        "email.domain == \"order.nope\" || email.domain in ['ip.x', '''a.b''']"
        " || r'x.y' == 'nosuch.var'"
    )
    rule_set = RuleSet.from_rules("v", [Rule("s", "S", "signal", expression, "S.")])
    assert rule_set.fields == frozenset({"email.domain"})
    assert rule_set.evaluate(build_context({"email": {"domain": "ip.x"}})).hits[0].code == "S"


# ---------------------------------------------------------------- CEL behaviour relied on


def test_cel_quirks() -> None:
    assert cel.compile("x > 1").execute({"x": 2.0}) is True  # int/double comparison works
    with pytest.raises(TypeError):
        cel.compile("x + 1 > 2.0").execute({"x": 2.0})  # ...arithmetic does not
    with pytest.raises(TypeError):
        cel.compile("x > 1.0").execute({"x": None})  # null is not a number
    with pytest.raises(TypeError):
        cel.compile("x > 1.0").execute({"x": math.nan})  # nor is NaN
    with pytest.raises(KeyError):
        cel.compile("m.missing").execute({"m": {}})
    assert cel.compile("m.missing || true").execute({"m": {}}) is True  # errors absorbed by || / &&
    assert cel.compile("l.exists(c, c == 1)").variables() == [
        "c",
        "l",
    ]  # binders count as variables


# ---------------------------------------------------------------- context schema


def test_context_schema() -> None:
    ctx = empty_context()
    validate_context(ctx)
    assert ctx["order"]["amount_usd"] == -1.0 and ctx["model"]["score"] == -1.0
    assert (
        ctx is not empty_context()
        and ctx["order"]["categories"] is not empty_context()["order"]["categories"]
    )
    assert all(
        f.type in {"double", "string", "bool", "list<string>"}
        for fs in SCHEMA.values()
        for f in fs.values()
    )
    with pytest.raises(RuleError, match="unknown context variable order.nope"):
        build_context({"order": {"nope": 1.0}})


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda c: c["order"].__setitem__("amount", 5), "order.amount: must be a float, not int"),
        (lambda c: c["profile"].__setitem__("orders_1h", True), "must be a float, not bool"),
        (lambda c: c["ip"].__setitem__("distance_to_billing_km", math.nan), "must not be NaN"),
        (lambda c: c["ip"].__setitem__("country", None), "ip.country: must be a str"),
        (lambda c: c["order"].__setitem__("categories", ["vps", "boat"]), "unknown category"),
        (lambda c: c["lists"].__setitem__("block_matches", ["ip", "street"]), "unknown list kind"),
        (lambda c: c["device"].pop("is_bot"), "device.is_bot: missing"),
        (lambda c: c["device"].__setitem__("colour", ""), "device.colour: unknown"),
        (lambda c: c.pop("model"), "model: missing"),
    ],
)
def test_validate_context_rejects(mutate, fragment: str) -> None:
    ctx = empty_context()
    mutate(ctx)
    with pytest.raises(RuleError) as info:
        validate_context(ctx)
    assert fragment in str(info.value)


# ---------------------------------------------------------------- lists


def _matcher() -> ListMatcher:
    entries = [
        ListEntry("block", "ip", "203.0.113.0/24"),
        ListEntry("block", "ip", "198.51.100.7"),
        ListEntry("review", "ip", "2001:db8:abcd::/48"),
        ListEntry("allow", "ip", "2001:db8:abcd:12::1"),
        ListEntry("block", "email_domain", "Example.COM."),
        ListEntry("review", "bin", "411111"),
        ListEntry("block", "bin", "55555555"),
        ListEntry("review", "country", "kp"),
        ListEntry("block", "device_id", "dev-1"),
        ListEntry("allow", "account_id", "acct-42"),
        ListEntry("block", "email_hash", "A" * 64),
        ListEntry("block", "ip", "10.0.0.1/8"),  # host bits set: skipped
        ListEntry("nolist", "ip", "10.0.0.1"),  # unknown list: skipped
    ]
    return ListMatcher(entries)


def test_list_matcher_ip_networks() -> None:
    m = _matcher()
    assert len(m) == 11 and m.skipped == 2
    assert m.match(ip="203.0.113.200")["block_matches"] == ["ip"]
    assert m.match(ip="203.0.114.1")["block"] is False
    assert m.match(ip="198.51.100.7")["block"] is True
    assert m.match(ip="198.51.100.8")["block"] is False
    assert m.match(ip="::ffff:203.0.113.9")["block"] is True  # IPv4-mapped IPv6
    v6 = m.match(ip="2001:db8:abcd:12::1")
    assert (v6["allow"], v6["review"], v6["block"]) == (True, True, False)
    assert m.match(ip="2001:DB8:ABCD:ffff::2")["review_matches"] == ["ip"]
    assert m.match(ip="2001:db8:abce::1")["review"] is False
    assert m.match(ip="not an ip") == m.match()
    assert m.match(ip="10.1.2.3")["block"] is False


def test_list_matcher_other_kinds() -> None:
    m = _matcher()
    assert m.match(email_domain="example.com")["block"] is True
    assert m.match(email_domain="mail.eu.Example.com.")["block_matches"] == ["email_domain"]
    assert m.match(email_domain="badexample.com")["block"] is False
    assert m.match(email_domain="example.com.au")["block"] is False
    assert m.match(bin="41111122")["review_matches"] == ["bin"]  # 8-digit BIN under a 6-digit entry
    assert m.match(bin="555555")["block"] is False and m.match(bin="55555555")["block"] is True
    assert m.match(countries=("US", "kp"))["review_matches"] == ["country"]
    assert m.match(countries=("US", ""))["review"] is False
    assert m.match(email_hash="a" * 64)["block"] is True
    both = m.match(ip="203.0.113.1", device_id="dev-1", account_id="acct-42")
    assert both["block_matches"] == ["ip", "device_id"] and both["allow_matches"] == ["account_id"]
    assert both["allow"] and both["block"] and not both["review"]
    ctx = build_context({"lists": both})
    validate_context(ctx)
    assert DEFAULT.evaluate(ctx).decision == "accept"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("ip", " 192.0.2.1 ", "192.0.2.1"),
        ("ip", "192.0.2.0/24", "192.0.2.0/24"),
        ("ip", "192.0.2.1/32", "192.0.2.1"),
        ("ip", "2001:0DB8::/32", "2001:db8::/32"),
        ("ip", "::ffff:192.0.2.0/120", "192.0.2.0/24"),
        ("email_domain", "@Bücher.example", "xn--bcher-kva.example"),
        ("email_domain", "Sub.Example.com.", "sub.example.com"),
        ("country", "de", "DE"),
        ("bin", "12345678", "12345678"),
        ("email_hash", "ABCDEF" + "0" * 58, "abcdef" + "0" * 58),  # the service's HMAC-SHA256
        ("device_id", " d1 ", "d1"),
    ],
)
def test_normalise_list_value(kind: str, value: str, expected: str) -> None:
    assert normalise_list_value(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("ip", "192.0.2.1/24"),
        ("ip", "300.1.1.1"),
        ("ip", "192.0.2.0/33"),
        ("ip", "0.0.0.0/0"),
        ("ip", "fe80::1%eth0"),
        ("email_domain", "someone@example.com"),
        ("email_domain", "-bad-.com"),
        ("country", "USA"),
        ("country", "1A"),
        ("bin", "12345"),
        ("bin", "4111111111111111"),
        ("email_hash", "xyz"),
        ("email_hash", "a" * 32),  # an MD5: a hash made elsewhere never matches an order
        ("device_id", "a\nb"),
        ("device_id", "x" * 256),
        ("ip", ""),
    ],
)
def test_normalise_list_value_rejects(kind: str, value: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        normalise_list_value(kind, value)
    assert [d.pointer for d in info.value.details] == ["/value"]
    assert value.strip() == "" or value not in info.value.message  # the value is never echoed


def test_make_list_entry_pointers() -> None:
    assert make_list_entry("block", "country", "ru", " note ") == ListEntry(
        "block", "country", "RU", "note"
    )
    for args, pointer in [
        (("deny", "ip", "192.0.2.1"), "/list_name"),
        (("block", "street", "x"), "/kind"),
    ]:
        with pytest.raises(InvalidRequestError) as info:
            make_list_entry(*args)
        assert info.value.details[0].pointer == pointer


def test_a_right_to_left_message_with_its_direction_marks_loads() -> None:
    """Only the characters that reorder text around them are refused in what goes into every
    answer; the marks U+200E/U+200F and joiners that other scripts need are text."""
    text = _toml("lists.block").replace("Text.", "\u05d4\u05d6\u05de\u05e0\u05d4 \u200f(ID 7)\u200f")
    assert RuleSet.loads(text).rules[0].message.endswith("\u200f")
