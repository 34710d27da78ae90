"""The model card: what a bundle was trained on and how well it did on held-out rows.

``model_card.json`` holds the same content as ``MODEL_CARD.md``: version, date, data (path,
hash, skipped rows, ``training_period``: the event times of the first and last row the model
was fitted and calibrated on), features, parameters, thresholds, the model's metrics on the
held-out rows and, when given, the back-test of rules alone, model alone and both on those
rows (keys of ``backtest``: ``docs/backtest.md``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fraudscreen import __version__ as fraudscreen_version
from fraudscreen.features import describe_feature
from fraudscreen.files import replace_files, text_writer
from fraudscreen.logs import mask
from fraudscreen.model import BUNDLE_FILE
from fraudscreen.training.backtest_print import before_saving
from fraudscreen.training.capacity import capacity_text, model_reviews
from fraudscreen.training.drift import LARGE, MODERATE, NOISE_P, p_text, readings, shift_reading
from fraudscreen.training.reliability import percent

CARD_FILES = ("model_card.json", "MODEL_CARD.md")
"""The model card's files, written beside the bundle."""

_SPLITS = {"time": "the latest orders in time", "stratified-random": "a stratified random share",
           "random": "a stratified random share"}


def model_card(
    result: Any, *, data_path: Path, skipped: int = 0, backtest: dict[str, Any] | None = None,
    as_a_retrain: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The card as a JSON-ready dict. ``as_a_retrain``: the held-out metrics of the same
    training with only the labels known at the first test order (:func:`retrain_figures`)."""
    bundle = result.bundle
    return {
        "version": bundle.version,
        "trained_at": bundle.trained_at,
        "fraudscreen_version": fraudscreen_version,
        "sklearn_version": bundle.sklearn_version,
        "data": {"path": mask(str(data_path)), "sha256": bundle.training_data_sha256, "skipped_rows": skipped,
                 "training_period": bundle.training_period},
        "features": [{"name": n, "description": describe_feature(n)} for n in bundle.feature_names],
        "params": bundle.params,
        "thresholds": {"review": bundle.thresholds.review, "reject": bundle.thresholds.reject},
        "metrics_held_out": bundle.metrics,
        "metrics_held_out_as_a_retrain": as_a_retrain,
        "report": result.report,
        "backtest": backtest,
    }


def retrain_figures(trained: Any) -> dict[str, Any]:
    """What :func:`model_card` keeps of a ``known_at_test_start`` training (a
    :class:`~fraudscreen.training.retrain.TrainedReplay`): its held-out metrics and how many
    train labels it lacked."""
    return {**trained.result.bundle.metrics,
            "train_frauds_not_yet_known": trained.train_frauds_not_yet_known,
            "train_rows_not_yet_labelled": trained.train_rows_not_yet_labelled}


def _three(value: float | None) -> str:
    """A figure to three decimals; ``–`` when the test rows leave it undefined (one class)."""
    return "–" if value is None else f"{value:.3f}"


def _as_a_retrain(card: dict[str, Any]) -> list[str]:
    """The card's warning that the held-out figures used labels a retrain would not have had."""
    real = card.get("metrics_held_out_as_a_retrain")
    if not real:
        return []
    if "problem" in real:
        return ["", ("**These figures use labels reported after the first test order.** A retrain "
                     f"with only the labels known then could not be trained: {real['problem']}.")]
    held = card["metrics_held_out"]
    rejects = (f"rejects {_pct(real['decision_mix']['reject'])} at {_pct(real['reject_precision'])} "
               "precision" if real["reject_threshold"] < 1.0 else "no reject threshold reaches the "
               "reject precision")
    return ["", (
        f"**These figures use labels reported after the first test order** "
        f"({real['train_frauds_not_yet_known']:,} train frauds were reported later, and "
        f"{real['train_rows_not_yet_labelled']:,} train orders had no label yet). A retrain on the "
        f"first test day, with the labels known then, reaches on the same test rows: ROC AUC "
        f"{_three(real['roc_auc'])} (here {_three(held['roc_auc'])}), average precision "
        f"{_three(real['average_precision'])} (here {_three(held['average_precision'])}); the model alone "
        f"flags {_pct(real['flagged_share'])} and catches {_pct(real['recall_at_review'])} of the "
        f"fraud (here {_pct(held['flagged_share'])} and {_pct(held['recall_at_review'])}), and "
        f"{rejects}. Expect those of a model retrained on an export (docs/backtest.md).")]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _usd(value: float | None) -> str:
    return "–" if value is None else f"${value:,.0f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _pct_within(value: float | None, bounds: list[float] | None) -> str:
    """``66.7% (41.7% – 84.8%)``: a share and its interval, when it has one."""
    if value is None or not bounds:
        return _pct(value)
    return f"{_pct(value)} ({_pct(bounds[0])} – {_pct(bounds[1])})"


_INTERVAL_FIGURES = (("ROC AUC", "roc_auc", False), ("avg precision", "average_precision", False),
                     ("recall @ capacity", "recall_at_capacity", True),
                     ("flagged recall", "flagged_recall", True),
                     ("flagged precision", "flagged_precision", True),
                     ("reject precision", "reject_precision", True))


def _interval_lines(report: dict[str, Any]) -> list[str]:
    """How far the model's and the service's figures could move on another sample of orders."""
    about = report.get("intervals")
    if not about:
        return []
    drawn = (f"the test rows' {about['accounts']:,} accounts, each with all its orders"
             if about.get("accounts") else "the test rows")
    lines = ["", f"{about['confidence']:.0%} bootstrap intervals ({about['resamples']} resamples of {drawn}):", ""]
    for name in ("model", "combined"):
        system = report["systems"][name]
        parts = []
        for label, key, pct in _INTERVAL_FIGURES:
            bounds = system["intervals"].get(key)
            if bounds is not None:
                low, high = (_pct(b) if pct else f"{b:.4f}" for b in bounds)
                parts.append(f"{label} {low} – {high}")
        lines.append(f"- {name}: " + "; ".join(parts))
    return lines


def _backtest_lines(report: dict[str, Any]) -> list[str]:
    split, test = report["split"], report["test"]
    systems = []
    for name, m in report["systems"].items():
        mix = m["decision_mix"]
        systems.append([name, _fmt(m["roc_auc"]), _fmt(m["average_precision"]),
                        *map(_pct, (m["recall_at_capacity"], m["precision_at_capacity"],
                                    m["flagged_share"], m["flagged_recall"], m["reject_precision"],
                                    mix["accept"], mix["review"], mix["reject"]))])
    rules = [[f"`{r['id']}`", r["action"], r["hits"], _pct_within(r["precision"], r.get("precision_interval")),
              _pct(r["recall"]), _usd(r.get("fraud_usd")), _usd(r.get("legit_usd")),
              r.get("beyond_model_hits", "–"),
              _pct_within(r.get("beyond_model_precision"), r.get("beyond_model_precision_interval"))]
             for r in report["rules"]]
    return [
        "## Back-test on the held-out rows",
        *_table(f"{test['rows']} test rows ({split['method']} split, {split['test_from']} … "
                f"{split['test_to']}), fraud rate {_pct(test['fraud_rate'])}; review capacity "
                f"{capacity_text(report['thresholds']['review_capacity'])}. Rules alone decide by precedence "
                "(allow → accept, reject, review, else accept); the model alone uses only its "
                "thresholds; combined is what the service does.",
                ("system", "ROC AUC", "avg precision", "recall @ capacity", "precision @ capacity",
                 "flagged", "flagged recall", "reject precision", "accept", "review", "reject"),
                systems),
        *_interval_lines(report), *_money_lines(report),
        *_table("Fraud amount and good orders' amount: in USD among the rule's hits. Beyond model: "
                "the rule's hits on orders the model alone would have accepted, and the fraud "
                "share among them. Precisions with their 95% Wilson interval.",
                ("rule", "action", "hits", "precision", "recall", "fraud amount",
                 "good orders' amount", "beyond model", "its precision"), rules),
        *_segment_lines(report), *_capacity_lines(report), *_calibration_lines(report),
        *_drift_lines(report), *_importance_lines(report), "",
    ]


def _segment_lines(report: dict[str, Any]) -> list[str]:
    """The test rows by segment: by scenario (simulated data), the share of each scenario's
    rows each system flags; by a field of the order, the service's share of each segment's
    frauds caught and of its good orders stopped."""
    segments = report.get("segments")
    if not segments:
        return []
    by = report.get("segment_by", "scenario")
    if by != "scenario":
        return _field_segment_lines(by, segments)
    rows = []
    for name, entry in segments.items():
        cells = []
        for system in ("rules", "model", "combined"):
            figures = entry["systems"][system]
            cells.append(_pct_within(figures["flagged_share"], figures["flagged_interval"]))
        accounts = entry.get("accounts")
        rows.append([f"`{name}`", entry["label"], entry["rows"], "–" if accounts is None else accounts, *cells])
    return _table("By scenario (the simulator's fraud patterns and honest scenarios): the share of "
                  "each scenario's test rows flagged for review or rejected, with its 95% Wilson "
                  "interval. For a fraud pattern that is the share caught; for an honest "
                  "scenario, the share of good customers stopped. The interval takes rows as "
                  "independent: a scenario of many rows from few accounts is less certain.",
                  ("scenario", "label", "rows", "accounts", "rules", "model", "combined"), rows)


def _field_segment_lines(by: str, segments: dict[str, Any]) -> list[str]:
    name = by.replace("-", " ")
    rows = []
    for value, entry in segments.items():
        service = entry["systems"]["combined"]
        rows.append([f"`{value}`", entry["rows"], entry["frauds"],
                     _pct_within(service["flagged_share"], service["flagged_interval"]),
                     _pct(service["flagged_recall"]), _pct(service["legit_flagged_share"])])
    return _table(f"By {name}: the service's (rules and model) share of each segment's test rows "
                  "flagged for review or rejected, with its 95% Wilson interval, and apart its "
                  "share of the segment's frauds caught and of its good orders stopped.",
                  (name, "rows", "frauds", "flagged", "caught", "stopped"), rows)


def _table(intro: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A paragraph, then a Markdown table of ``rows`` under ``header``, each after a blank line
    (a ``|`` in a cell, such as a segment's name, is escaped: it would start another column)."""
    return ["", intro, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows)]


def _rules_share(card: dict[str, Any]) -> str:
    share = card["params"].get("rules_flagged_share")
    if share is None:
        return ""
    version = card["params"].get("rules_version")
    rules = f"the rules (version {version})" if version else "the rules"
    given = card["params"].get("review_capacity")
    capacity = "–" if given is None else capacity_text(given)
    if not model_reviews(card["thresholds"]["review"], card["thresholds"]["reject"]):
        return (f"; {rules} flag {_pct(share)} of the threshold rows themselves, and with the "
                f"model's rejects that is nearer the {capacity} review capacity than any review by "
                "the model would be: the model sends no order to review")
    return (f"; {rules} flag {_pct(share)} of the threshold rows themselves and the model "
            f"fills the rest of the {capacity} review capacity")


def _period(card: dict[str, Any]) -> str:
    period = card["data"].get("training_period")
    if not period:
        return ""
    return (f"; fitted and calibrated on orders from {period['from']} to {period['to']} "
            "(`backtest --compare` warns about test rows in that period)")


def _reject_support(card: dict[str, Any]) -> list[str]:
    """What the reject threshold rests on, from the back-test (absent from older cards)."""
    from fraudscreen.training.backtest_print import reject_support_text

    support = ((card.get("backtest") or {}).get("thresholds") or {}).get("reject_support")
    return [f"- {reject_support_text(support)}"] if support else []


def _warm_up(card: dict[str, Any]) -> list[str]:
    """A line on the warm-up, when the first days only built profiles."""
    days = card["params"].get("warm_up_days")
    if not days:
        return []
    rows = (card.get("backtest") or {}).get("split", {}).get("warm_up_rows")
    orders = f" ({rows} orders)" if rows is not None else ""
    return [(f"- Warm-up: the first {days:g} days{orders} of the data were replayed only to build "
             "the profiles of the later orders; they neither trained nor tested the model")]


def _never_known(card: dict[str, Any]) -> list[str]:
    names = (card.get("report") or {}).get("features_always_missing") or []
    if not names:
        return []
    listed = ", ".join(f"`{n}`" for n in names)
    line = (f"- Never known in the training rows (no split uses them): {listed}. Check that the "
            "GeoIP database and the request fields they need are there.")
    return [line]


def _money_lines(report: dict[str, Any]) -> list[str]:
    """What the service (rules and model) does in money on the test rows."""
    money = report.get("money")
    if not money:
        return []
    service = money["systems"]["combined"]
    return ["", (f"In money (USD) on the test rows, the service catches {_pct(service['fraud_flagged_share'])} "
                 f"of the fraud amount (${service['fraud_flagged_usd']:,.0f} of ${money['fraud_usd']:,.0f}) "
                 f"and rejects {_pct(service['fraud_rejected_share'])}; it holds up "
                 f"{_pct(service['legit_flagged_share'])} of the good orders' amount "
                 f"(${service['legit_flagged_usd']:,.0f} of ${money['legit_usd']:,.0f}) and rejects "
                 f"{_pct(service['legit_rejected_share'])}.")]


def _capacity_lines(report: dict[str, Any]) -> list[str]:
    """The service at other review capacities, each with the thresholds training would choose."""
    capacities = report.get("capacities")
    if not capacities:
        return []
    chosen = report["thresholds"]["review_capacity"]
    rows = [[capacity_text(c["review_capacity"]) + (" (this model)" if c["review_capacity"] == chosen else ""),
             f"{c['review_threshold']:.4f}" if c["model_reviews"] else "–",
             _pct(c["flagged_share"]), _pct(c["decision_mix"]["reject"]), c["frauds_flagged"],
             _pct(c["flagged_recall"]), _pct(c["flagged_precision"]),
             _pct(c.get("fraud_flagged_usd_share")), _pct(c.get("legit_flagged_usd_share"))]
            for c in capacities]
    return _table("At other review capacities: the model's review threshold training would choose "
                  "on the same calibration rows (– where the rules' reviews and the model's rejects "
                  "come nearer the capacity than any review by the model would), and the service's "
                  "decisions on the test rows: the share flagged (review or reject) and rejected, "
                  "the frauds caught, their recall and the precision of the flagged orders, and "
                  "the shares of the fraud amount caught and of the good orders' amount held up.",
                  ("capacity", "review threshold", "flagged", "rejected", "frauds caught", "recall",
                   "precision", "fraud amount", "good amount"), rows)


def _calibration_lines(report: dict[str, Any]) -> list[str]:
    """The model's probability against the fraud share that happened, by band of probability."""
    calibration = report.get("calibration")
    if not calibration:
        return []
    rows = []
    for band in calibration["bands"]:
        low, high = band["fraud_rate_interval"]
        rows.append([f"{band['from']:g} – {band['to']:g}", band["rows"], band["frauds"],
                     percent(band["mean_probability"]),
                     f"{percent(band['fraud_rate'])} ({percent(low)} – {percent(high)})"])
    return _table(f"Calibration on the test rows: the model expected {calibration['expected_frauds']:.1f} "
                  f"frauds and {calibration['frauds']} were labelled (Brier score "
                  f"{_fmt(calibration['brier_score'])}). By band of probability, the mean "
                  "probability against the fraud share that happened, with its 95% Wilson interval.",
                  ("probability", "rows", "frauds", "predicted", "happened"), rows)


DRIFT_LISTED = 5
"""Features the card lists by how far they moved from the train to the test rows."""


def _drift_lines(report: dict[str, Any]) -> list[str]:
    """The features that moved most between the train rows and the test rows."""
    drift = report.get("drift")
    if not drift:
        return []
    rows = [[f"`{f['feature']}`", _fmt(f["psi"]), shift_reading(f["psi"], f.get("p_value")),
             p_text(f.get("p_value")), _fmt(f["train_mean"]), _fmt(f["test_mean"])]
            for f in drift["features"][:DRIFT_LISTED]]
    psi, p = drift["probability_psi"], drift.get("probability_p_value")
    return _table(f"Drift from the train rows to the test rows (population stability index; "
                  f"{MODERATE:g} to {LARGE:g} is read as a moderate shift, above {LARGE:g} a large "
                  f"one; p: the chi-squared test of homogeneity on the same bins, from {NOISE_P:g} up "
                  f"within sampling noise): the model's probability {_fmt(psi)} "
                  f"({shift_reading(psi, p)}, p {p_text(p)}); the {DRIFT_LISTED} features that moved most:",
                  ("feature", "PSI", "shift", "p", "train mean", "test mean"), rows)


IMPORTANCE_LISTED = 15
"""Features the card lists by permutation importance (all of them are in model_card.json)."""


def _importance_lines(report: dict[str, Any]) -> list[str]:
    """The features the model loses most without, on the test rows, with how far each drifted."""
    importance = report.get("importance")
    if not importance:
        return []
    reading = readings(report.get("drift"))
    rows = [[f"`{f['feature']}`", f"{f['drop']:.4f}", f"{f['drop_std']:.4f}", reading.get(f["feature"], "–")]
            for f in importance["features"][:IMPORTANCE_LISTED]]
    return _table(f"What the model relies on: permutation importance on {importance['rows']} test rows, "
                  "the drop in its average precision (of "
                  f"{importance['average_precision']:.4f}) when a feature's column is shuffled, and "
                  f"its standard deviation over {importance['repeats']} shuffles. Features that carry "
                  "the same information share it, so a small drop does not prove a feature useless. "
                  f"The {IMPORTANCE_LISTED} largest, with each feature's drift from above:",
                  ("feature", "drop", "±", "drift"), rows)


def write_bundle_with_card(
    result: Any, out_dir: Path, *, data_path: Path, skipped: int = 0,
    backtest: dict[str, Any] | None = None, as_a_retrain: dict[str, Any] | None = None,
) -> None:
    """Write the bundle (``model.joblib``) and its card (``model_card.json``, ``MODEL_CARD.md``)
    into ``out_dir``: the three files or none (:func:`~fraudscreen.files.replace_files`), so a
    service reloading the folder never finds a model beside another model's card."""
    texts = model_card_texts(result, data_path=data_path, skipped=skipped, backtest=backtest,
                             as_a_retrain=as_a_retrain)
    replace_files({out_dir / BUNDLE_FILE: result.bundle.write,
                   **{out_dir / name: text_writer(text) for name, text in texts.items()}})


def model_card_texts(
    result: Any, *, data_path: Path, skipped: int = 0, backtest: dict[str, Any] | None = None,
    as_a_retrain: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The model card's files by name: ``model_card.json`` and ``MODEL_CARD.md``."""
    card = model_card(result, data_path=data_path, skipped=skipped, backtest=backtest,
                      as_a_retrain=as_a_retrain)
    card_json = json.dumps(card, indent=2, default=str, allow_nan=False) + "\n"
    metrics = card["metrics_held_out"]
    split = _SPLITS.get(str(card["params"].get("split", "time")), "held-out rows")
    lines = [
        f"# Model card: {card['version']}",
        "",
        (
            f"- Trained: {card['trained_at']} with fraudscreen {card['fraudscreen_version']} "
            f"and scikit-learn {card['sklearn_version']}"
        ),
        (
            f"- Data: `{card['data']['path']}` (sha256 `{card['data']['sha256'][:16]}…`), "
            f"{card['data']['skipped_rows']} rows skipped"
            + before_saving((card.get("backtest") or {}).get("data", {})) + _period(card)
        ),
        (
            f"- Thresholds: review at p ≥ {card['thresholds']['review']:.4f}, "
            f"reject at p ≥ {card['thresholds']['reject']:.4f}"
            + _rules_share(card)
        ),
        *_reject_support(card),
        *_warm_up(card),
        *_never_known(card),
        "",
        f"## Metrics on held-out rows ({split}, never trained on)",
        *_as_a_retrain(card),
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in sorted(metrics):
        value = metrics[key]
        if isinstance(value, dict):
            value = ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
        lines.append(f"| {key} | {_fmt(value)} |")
    lines.append("")
    if backtest is not None:
        lines += _backtest_lines(backtest)
    lines += ["## Features", ""]
    lines += [f"- `{f['name']}`: {f['description']}" for f in card["features"]]
    return dict(zip(CARD_FILES, (card_json, "\n".join(lines) + "\n"), strict=True))
