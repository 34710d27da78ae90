"""The back-test report as tables on a terminal (``rich``), or plain text into a file or pipe.

The report itself (a JSON-ready dict) is built by :mod:`.backtest`.
"""

from __future__ import annotations

from typing import Any

from fraudscreen.training.capacity import DECISIONS, capacity_text, model_reviews
from fraudscreen.training.compare import capacity_warning, overlap_warning
from fraudscreen.training.pipeline import ROWS_DESCRIBED, skipped_reasons
from fraudscreen.training.reliability import percent
from fraudscreen.training.systems import SYSTEMS


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def _bounded(value: float | None, bounds: list[float] | None, pct: bool) -> str:
    """A figure and, when it has one, its interval: ``76.9% (69.5–83.6)``."""
    if value is None or bounds is None:
        return _fmt(value, pct)
    low, high = (f"{100 * b:.1f}" if pct else f"{b:.3f}" for b in bounds)
    return f"{_fmt(value, pct)} ({low}–{high})"


def _with_interval(system: dict[str, Any], key: str, pct: bool) -> str:
    """A system's figure with its bootstrap interval, when the report has one."""
    return _bounded(system[key], system.get("intervals", {}).get(key), pct)


def _drawn_by(intervals: dict[str, Any]) -> str:
    """``", resampling the test rows' 3,007 accounts"`` when the intervals were drawn by account."""
    accounts = intervals.get("accounts")
    return f", resampling the test rows' {accounts:,} accounts" if accounts else ""


def _count(value: int | None) -> str:
    return "–" if value is None else str(value)


def _signed(value: float, pct: bool) -> str:
    return f"{100 * value:+.1f} pts" if pct else f"{value:+.3f}"


PLAIN_WIDTH = 120
"""Width of the printed report when standard output is not a terminal (rich's default: 80)."""


def _escaped(value: Any) -> Any:
    """``value`` with every string in it, keys included, escaped for rich markup: a segment,
    rule or model version from the data (``"[/]"``) prints as it is, never as a tag."""
    from rich.markup import escape

    if isinstance(value, str):
        escaped = escape(value)
        # rich doubles a final backslash (it would escape a tag after it); no tag follows a
        # value here: each is a table cell or is followed by text, so keep it single
        return escaped[:-1] if value.endswith("\\") and escaped.endswith("\\\\") else escaped
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def before_saving(data: dict[str, Any]) -> str:
    """``": 2 with a label other than fraud or legit; 11 more when the replay was saved"``: why
    the rows were skipped, and for a saved replay, the rows of the file it was replayed from
    that the replay skipped (a report's ``data``); else ``""``."""
    why = skipped_reasons(data.get("rows_skipped_why") or {})
    skipped = data.get("rows_skipped_before_saving")
    return (f": {why}" if why else "") + (f"; {skipped} more when the replay was saved" if skipped else "")


def print_table(console: Any, table: Any) -> None:
    """Print a ``rich`` table whole: into a file or a pipe, as wide as its columns need when that is
    wider than the console (rich would cut figures to "…" or drop a column); in a terminal, as
    wide as the terminal."""
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update_width(10_000), table).minimum
    width = console.width
    if needed <= width:
        console.print(table)
        return
    console.width = needed
    try:
        console.print(table)
    finally:
        console.width = width


def print_report(report: dict[str, Any], console: Any = None) -> None:
    """Print the report as tables (``rich``); :data:`PLAIN_WIDTH` wide into a file or a pipe."""
    from rich.console import Console
    from rich.table import Table

    report = _escaped(report)
    if console is None:
        console = Console()
        console = console if console.is_terminal else Console(width=PLAIN_WIDTH)
    test, split, th = report["test"], report["split"], report["thresholds"]
    method = report.get("replay", {}).get("method")
    soft = not console.is_terminal  # a file or a pipe: one line each, not cut at the width
    rules_used = ("rules: those live when each order was scored" if method == "logged"
                  else f"rules {report['rules_version']}")
    described = ROWS_DESCRIBED.get(method, "replayed")
    console.print(
        f"[bold]Back-test[/bold] of {report['data']['rows_replayed']} {described} orders "
        f"({report['data']['rows_skipped']} skipped{before_saving(report['data'])}), "
        f"{split['method']} split: "
        f"train {split['train_rows']}, test {split['test_rows']} "
        f"({split['test_from']} … {split['test_to']}); test fraud rate {_fmt(test['fraud_rate'], True)}"
        + (f"; the first {split['warm_up_days']:g} days' {split['warm_up_rows']} orders only built "
           "profiles (warm-up)" if split.get("warm_up_rows") else ""),
        soft_wrap=soft,
    )
    if split.get("labels") == "known_at_test_start":
        console.print(
            f"Trained on the labels known at the first test order: the "
            f"{split['train_rows_not_yet_labelled']} train orders of the "
            f"{report['replay']['label_delay_days']:g} days before it (the label delay) without a "
            "known fraud label were left out, and older frauds reported after it counted as legit "
            f"({split['train_frauds_not_yet_known']} train frauds were reported after it).",
            soft_wrap=soft,
        )
    reviews = model_reviews(th["review"], th["reject"])
    review = f"review at p ≥ {th['review']:.4f}" if reviews else "no review by the model"
    console.print(
        f"Model {report['model']['version']}: {review}, reject at p ≥ "
        f"{th['reject']:.4f} (capacity {capacity_text(th['review_capacity'])}, min reject precision "
        f"{th['min_reject_precision']:g}); {rules_used}",
        soft_wrap=soft,
    )
    if th.get("reject_support") is not None:
        console.print(reject_support_text(th["reject_support"]), soft_wrap=soft)
    if th.get("rules_flagged_share") is not None:
        console.print(
            f"The rules flag {th['rules_flagged_share']:.1%} of the threshold rows by themselves; "
            + ("the model's review threshold fills the rest of the capacity." if reviews else
               "with the model's rejects that leaves the share flagged nearer the capacity than any "
               "review by the model would, so the model sends no order to review."),
            soft_wrap=soft,
        )
    intervals = report.get("intervals")
    title = "Test rows only"
    if intervals:
        title += f" (in brackets: {intervals['confidence']:.0%} bootstrap interval{_drawn_by(intervals)})"
    table = Table(title=title)
    table.add_column("metric", no_wrap=True)
    for name in SYSTEMS:
        table.add_column(name, justify="right", no_wrap=True)
    m = report["systems"]
    rows: list[tuple[str, str, bool]] = [
        ("ROC AUC", "roc_auc", False), ("average precision", "average_precision", False),
        (f"recall at {capacity_text(th['review_capacity'])} capacity", "recall_at_capacity", True),
        (f"precision at {capacity_text(th['review_capacity'])} capacity", "precision_at_capacity", True),
        ("flagged (review + reject)", "flagged_share", True),
        ("recall of flagged", "flagged_recall", True),
        ("precision of flagged", "flagged_precision", True),
        ("reject precision", "reject_precision", True), ("reject recall", "reject_recall", True),
    ]
    for label, key, pct in rows:
        table.add_row(label, *(_with_interval(m[s], key, pct) for s in SYSTEMS))
    for d in DECISIONS:
        table.add_row(f"{d} share", *(_fmt(m[s]["decision_mix"][d], True) for s in SYSTEMS))
    print_table(console, table)
    if "compare" in report:
        _print_compare(report, console)
    rules = Table(title="Rules on the test rows (in brackets: 95% Wilson interval)")
    # Two-line headers leave the rule ids their whole line at PLAIN_WIDTH; a longer id folds.
    for name in ("rule", "action", "hits", "frauds", "precision", "recall",
                 "beyond\nmodel", "its\nfrauds", "its\nprecision"):
        rules.add_column(name, justify="left" if name in ("rule", "action") else "right",
                         no_wrap=name != "rule", overflow="fold")
    for r in report["rules"]:
        rules.add_row(r["id"], r["action"], str(r["hits"]), str(r["frauds"]),
                      _bounded(r["precision"], r.get("precision_interval"), True), _fmt(r["recall"], True),
                      str(r.get("beyond_model_hits", "–")), str(r.get("beyond_model_frauds", "–")),
                      _bounded(r.get("beyond_model_precision"), r.get("beyond_model_precision_interval"), True))
    print_table(console, rules)
    failing = [r for r in report["rules"] if r.get("errors")]
    if failing:
        actions = {r["action"] for r in failing}
        console.print(
            f"Rules failed at run time on {report['test'].get('rows_with_rule_errors')} test rows: "
            + ", ".join(f"{r['id']} ({r['action']}) on {r['errors']}" for r in failing) + "."
            + (" A failed review or reject rule makes the service review the order, as it does here."
               if actions & {"review", "reject"} else "")
            + (" A failed allow rule does not allow the order." if "allow" in actions else "")
            + " Fix the rule before it goes live.",
            soft_wrap=not console.is_terminal,
        )
    _print_rules_in_money(report["rules"], console)
    if report.get("segments"):
        _print_segments(report, console)
    if report.get("money"):
        _print_money(report["money"], console)
    if report.get("capacities"):
        _print_capacities(report["capacities"], th["review_capacity"], console)
    if report.get("calibration"):
        _print_calibration(report["calibration"], console)
    if report.get("drift"):
        _print_drift(report["drift"], console)
    if report.get("importance"):
        _print_importance(report["importance"], report.get("drift"), console)


def _print_rules_in_money(rules: list[dict[str, Any]], console: Any) -> None:
    """The fraud and the good orders' amounts among each rule's hits (rules that hit, with
    amounts in the report)."""
    from rich.table import Table

    hit = [r for r in rules if r["hits"] and "fraud_usd" in r]
    if not hit:
        return
    table = Table(title="Rules in money on the test rows: the amounts among their hits (USD)")
    for name in ("rule", "action", "hits", "fraud amount", "good orders' amount"):
        table.add_column(name, justify="left" if name in ("rule", "action") else "right",
                         no_wrap=name != "rule", overflow="fold")
    for r in hit:
        table.add_row(r["id"], r["action"], str(r["hits"]), f"${r['fraud_usd']:,.0f}",
                      f"${r['legit_usd']:,.0f}")
    print_table(console, table)


def _print_money(money: dict[str, Any], console: Any) -> None:
    """Fraud amounts caught and good revenue held up, per system."""
    from rich.table import Table

    table = Table(title=f"In money on the test rows: fraud ${money['fraud_usd']:,.0f}, good orders "
                        f"${money['legit_usd']:,.0f} (USD; in brackets: share of that total)")
    table.add_column("amount", no_wrap=True)
    for name in SYSTEMS:
        table.add_column(name, justify="right", no_wrap=True)
    for label, key in (("fraud caught (review + reject)", "fraud_flagged"), ("fraud rejected", "fraud_rejected"),
                       ("good orders held up (review + reject)", "legit_flagged"),
                       ("good orders rejected", "legit_rejected")):
        table.add_row(label, *(f"${money['systems'][s][f'{key}_usd']:,.0f} "
                               f"({_fmt(money['systems'][s][f'{key}_share'], True)})" for s in SYSTEMS))
    print_table(console, table)
    if money["rows_without_amount"]:
        console.print(f"{money['rows_without_amount']} test rows have no amount in USD and count as $0.",
                      soft_wrap=not console.is_terminal)


def reject_support_text(support: dict[str, Any]) -> str:
    """What the reject threshold rests on, in a sentence (the printed report and the model card)."""
    if not support["rows"]:
        return ("No probability met the minimum reject precision on enough calibration orders: the "
                "model rejects nothing (the rules still can).")
    low, high = support["precision_interval"]
    return (f"The reject threshold rests on {support['rows']:,} calibration orders at or above it, "
            f"{support['frauds']:,} of them fraud ({percent(support['precision'])}; 95% Wilson "
            f"interval {percent(low, False)}–{percent(high, False)}); a threshold chosen on few "
            "orders may reject less precisely on new ones.")


def _print_capacities(capacities: list[dict[str, Any]], chosen: float, console: Any) -> None:
    """The service at other review capacities: what it would flag, catch and hold up."""
    from rich.table import Table

    table = Table(title="The service at other review capacities on the test rows (thresholds chosen on "
                        "the calibration rows, as training chose this back-test's)")
    for name in ("capacity", "threshold", "flagged", "review", "reject", "caught", "recall",
                 "precision", "fraud $", "good $"):
        table.add_column(name, justify="right", no_wrap=True)
    for c in capacities:
        mix = c["decision_mix"]
        mark = " *" if c["review_capacity"] == chosen else ""
        table.add_row(f"{capacity_text(c['review_capacity'])}{mark}",
                      f"{c['review_threshold']:.4f}" if c["model_reviews"] else "–",
                      _fmt(c["flagged_share"], True), _fmt(mix["review"], True), _fmt(mix["reject"], True),
                      str(c["frauds_flagged"]), _fmt(c["flagged_recall"], True),
                      _fmt(c["flagged_precision"], True), _fmt(c.get("fraud_flagged_usd_share"), True),
                      _fmt(c.get("legit_flagged_usd_share"), True))
    print_table(console, table)
    full = [capacity_text(c["review_capacity"]) for c in capacities if not c["model_reviews"]]
    at = ", ".join(full[:-1]) + f" and {full[-1]}" if len(full) > 1 else "".join(full)
    console.print("*: this back-test's capacity (the figures above). threshold: the model's review "
                  "threshold; caught: the frauds flagged (sent to review or rejected); fraud $, good $: "
                  "the share of the fraud amount flagged and of the good orders' amount held up."
                  + (f" At {at} the rules' reviews and the model's rejects come nearer the "
                     "capacity than any review by the model would: the model reviews nothing more "
                     "(–)." if full else ""),
                  soft_wrap=not console.is_terminal)


def _print_calibration(calibration: dict[str, Any], console: Any) -> None:
    """The model's mean probability against the fraud share that happened, per band."""
    from rich.table import Table

    table = Table(title="Calibration on the test rows: the model's probability against the fraud "
                        "share that happened (in brackets: 95% Wilson interval)")
    for name in ("probability", "rows", "frauds", "predicted", "happened"):
        table.add_column(name, justify="left" if name == "probability" else "right", no_wrap=True)
    for band in calibration["bands"]:
        low, high = band["fraud_rate_interval"]
        table.add_row(f"{band['from']:g} – {band['to']:g}", str(band["rows"]), str(band["frauds"]),
                      percent(band["mean_probability"]),
                      f"{percent(band['fraud_rate'])} ({percent(low, False)}–{percent(high, False)})")
    print_table(console, table)
    console.print(f"Brier score {_fmt(calibration['brier_score'])}; the model expected "
                  f"{calibration['expected_frauds']:.1f} frauds among the test rows, and "
                  f"{calibration['frauds']} were labelled.", soft_wrap=not console.is_terminal)


DRIFT_SHOWN = 8
"""Features the printed report lists by how far they moved (all of them are in the JSON)."""


def _print_drift(drift: dict[str, Any], console: Any) -> None:
    """The features that moved most between the train and the test rows."""
    from rich.table import Table

    from fraudscreen.training.drift import (
        LARGE,
        MODERATE,
        NOISE_P,
        p_text,
        shift_reading,
        within_noise,
    )

    features = drift["features"]
    moved = [f for f in features if (f["psi"] or 0.0) >= MODERATE]
    beyond = sum(1 for f in moved if not within_noise(f.get("p_value")))
    table = Table(title=f"Drift from the train rows to the test rows: the {DRIFT_SHOWN} features that "
                        f"moved most of {len(features)} ({len(moved)} by {MODERATE:g} or more, "
                        f"{beyond} of them beyond sampling noise)")
    for name in ("feature", "PSI", "shift", "p", "train mean", "test mean"):
        table.add_column(name, justify="left" if name in ("feature", "shift") else "right", no_wrap=True)
    for f in features[:DRIFT_SHOWN]:
        table.add_row(f["feature"], _fmt(f["psi"]), shift_reading(f["psi"], f.get("p_value")),
                      p_text(f.get("p_value")), _mean(f["train_mean"]), _mean(f["test_mean"]))
    print_table(console, table)
    psi, p = drift["probability_psi"], drift.get("probability_p_value")
    console.print(f"PSI: population stability index; below {MODERATE:g} stable, {MODERATE:g}–{LARGE:g} a "
                  f"moderate shift, above {LARGE:g} a large one. p: the chi-squared test of homogeneity "
                  f"on the same bins; from {NOISE_P:g} up the shift is within what sampling alone gives "
                  f"with these row counts. The model's probability: PSI {_fmt(psi)}, "
                  f"{shift_reading(psi, p, words=True)}, p {p_text(p)} (test rows against the calibration rows).",
                  soft_wrap=not console.is_terminal)


IMPORTANCE_SHOWN = 10
"""Features the printed report lists by importance (all of them are in the JSON)."""


def _print_importance(importance: dict[str, Any], drift: dict[str, Any] | None, console: Any) -> None:
    """The features the model loses most without, with how far each drifted."""
    from rich.table import Table

    from fraudscreen.training.drift import readings

    reading = readings(drift)
    table = Table(title="What the model relies on (permutation importance)")
    for name in ("feature", "drop", "±", "drift"):
        table.add_column(name, justify="left" if name in ("feature", "drift") else "right", no_wrap=True)
    for f in importance["features"][:IMPORTANCE_SHOWN]:
        table.add_row(f["feature"], f"{f['drop']:.3f}", f"{f['drop_std']:.3f}", reading.get(f["feature"], "–"))
    print_table(console, table)
    console.print(f"The {min(IMPORTANCE_SHOWN, len(importance['features']))} of {len(importance['features'])} "
                  "features the model loses most without. drop: how much its average precision "
                  f"({importance['average_precision']:.3f} on {importance['rows']:,} test rows) falls "
                  "when the feature's column is shuffled; ±: the standard deviation over "
                  f"{importance['repeats']} shuffles. Features that carry the same information share "
                  "it. drift: the feature's shift from the train rows (above).",
                  soft_wrap=not console.is_terminal)


def _mean(value: float | None) -> str:
    return "–" if value is None else f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _print_segments(report: dict[str, Any], console: Any) -> None:
    """Per segment (by default the simulator's scenario): the share of its test rows each system
    flags, and the service's shares of its frauds caught and of its good orders stopped. With
    ``--compare``, also the compared bundle's combined share."""
    from rich.table import Table

    segments = report["segments"]
    by = report.get("segment_by", "scenario").replace("-", " ")
    theirs = report.get("compare", {}).get("segments")
    table = Table(title=f"Test rows by {by}: share flagged for review or reject "
                        "(in brackets: 95% Wilson interval)")
    compared = ["compared"] if theirs else []
    table.add_column(by, overflow="fold", min_width=min(30, max(map(len, segments))), max_width=30)
    counted = ["accounts"] if any(e.get("accounts") is not None for e in segments.values()) else []
    for name in ("rows", *counted, "frauds", *SYSTEMS, *compared, "caught", "stopped", "rejected"):
        table.add_column(name, justify="right", no_wrap=True)
    for name, entry in segments.items():
        systems = entry["systems"]
        service = systems["combined"]
        other = [_fmt(theirs[name]["systems"]["combined"]["flagged_share"], True)] if theirs else []
        accounts = [_count(entry.get("accounts"))] if counted else []
        table.add_row(name, str(entry["rows"]), *accounts, str(entry["frauds"]),
                      _fmt(systems["rules"]["flagged_share"], True),
                      _fmt(systems["model"]["flagged_share"], True),
                      _bounded(service["flagged_share"], service["flagged_interval"], True), *other,
                      _fmt(service["flagged_recall"], True),
                      _fmt(service["legit_flagged_share"], True),
                      _fmt(service["reject_share"], True))
    print_table(console, table)
    versus = (f" compared: what {report['compare']['version']} (rules and model) flags."
              if theirs else "")
    few = (" accounts: the accounts among the rows; the interval takes rows as independent, so a "
           "segment of many rows from few accounts is less certain than it says." if counted else "")
    console.print("caught: the service's share of the segment's frauds; stopped: its share of the "
                  "segment's legit orders; rejected: its share of all the segment's orders." + few + versus,
                  soft_wrap=not console.is_terminal)


def _print_compare(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    other = report["compare"]
    table = Table(title=f"New model against {other['version']} (compared) on the same test rows")
    table.add_column("metric", no_wrap=True)
    for name in ("new model", "compared model", "new combined", "compared combined"):
        table.add_column(name, justify="right", no_wrap=True)
    ours, theirs = report["systems"], other["systems"]
    for label, key, pct in (("ROC AUC", "roc_auc", False), ("average precision", "average_precision", False),
                            ("recall at capacity", "recall_at_capacity", True),
                            ("flagged", "flagged_share", True), ("recall of flagged", "flagged_recall", True),
                            ("reject precision", "reject_precision", True)):
        table.add_row(label, _fmt(ours["model"][key], pct), _fmt(theirs["model"][key], pct),
                      _fmt(ours["combined"][key], pct), _fmt(theirs["combined"][key], pct))
    print_table(console, table)
    difference = other.get("difference")
    if difference:
        parts = []
        for system, key, label, pct in (("model", "roc_auc", "model ROC AUC", False),
                                        ("model", "average_precision", "model average precision", False),
                                        ("combined", "recall_at_capacity", "recall at capacity", True),
                                        ("combined", "flagged_recall", "recall of flagged", True),
                                        ("combined", "flagged_precision", "precision of flagged", True)):
            d = difference[system][key]
            if d["value"] is not None and d["interval"] is not None:
                low, high = d["interval"]
                parts.append(f"{label} {_signed(d['value'], pct)} ({_signed(low, pct)} to {_signed(high, pct)})")
        console.print(f"New model minus {other['version']} on the same rows, paired "
                      f"{report['intervals']['confidence']:.0%} intervals: " + "; ".join(parts)
                      + ". An interval that holds 0 cannot tell the two apart.",
                      soft_wrap=not console.is_terminal)
    for warning in (overlap_warning(other["version"], other, report["split"]["test_rows"]),
                    capacity_warning(report)):
        if warning:
            console.print(warning, soft_wrap=not console.is_terminal)
