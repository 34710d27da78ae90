"""CLI commands of the analysts: simulate order streams, train model bundles, back-test."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fraudscreen.config import SAMPLE_DATA, Settings
from fraudscreen.errors import DataFileError, FraudscreenError, InvalidRequestError
from fraudscreen.files import replace_file
from fraudscreen.outputs import (
    OutputFile,
    OutputFolder,
    check_output,
    check_writable,
    file_identity,
)
from fraudscreen.training.segments import SEGMENT_FIELDS, SegmentBy

if TYPE_CHECKING:
    from fraudscreen.training.backtest import Backtest

MAX_LABEL_DELAY_DAYS = 36_500.0
"""Largest ``--label-delay-days`` (a century; far below ``timedelta``'s limit)."""
SEED = click.IntRange(0, 2**32 - 1)
"""Seeds numpy and scikit-learn accept."""
SAVE_REPLAY_HINT_SECONDS = 60.0
"""A replay of score requests at least this long ends with the hint of :func:`save_replay_hint`."""

_SAMPLE_SHOWN = "data/orders.jsonl.gz in the repository"


_DATA_HELP = (
    "Labelled orders, JSON Lines (.jsonl or .jsonl.gz): score requests plus 'label' and optional "
    "'label_time' (replayed), or an `export-training` file (read as logged)."
)


def _settings(ctx: click.Context) -> Settings:
    if ctx.obj is None:  # called outside the ``fraudscreen`` group
        from fraudscreen.config import load_settings

        ctx.obj = load_settings()
    settings: Settings = ctx.obj
    return settings


class FiniteFloatRange(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses NaN (which passes every range check)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _share() -> FiniteFloatRange:
    return FiniteFloatRange(0.0, 1.0, min_open=True, max_open=True)


_DELAY = FiniteFloatRange(0.0, MAX_LABEL_DELAY_DAYS)


CAPACITIES_SHOWN = "0.01,0.02,0.05,0.1,0.2"
"""``--capacities``' default as ``--help`` shows it: ``capacity.DEFAULT_CAPACITIES`` (a test
keeps the two equal; this module imports no NumPy before a command runs)."""


def _capacities(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, ...] | None:
    """``--capacities 0.01,0.05,0.1``: each a share between 0 and 1, exclusive; None: the default."""
    if value is None:
        return None
    share = _share()
    parts = [part.strip() for part in value.split(",")]
    try:
        [float(part) for part in parts]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of shares, such as "
                                 f"{CAPACITIES_SHOWN}") from None
    return tuple(share.convert(part, param, ctx) for part in parts)


def _writable_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None:
        check_output(_settings(ctx), value, param.opts[0] if param.opts else "the output")
    return value


def invisible_character(text: str) -> bool:
    """True when ``text`` holds a formatting character that shows as nothing (U+200B, U+2060,
    a direction mark): a new version must read as it is written."""
    import unicodedata

    return any(unicodedata.category(c) == "Cf" for c in text)


def _model_version(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--version``: it is returned in every answer of the service and named in its logs, so
    1 to 64 characters, without a control character, an e-mail address or a card number (as a
    bundle's version is checked when it loads)."""
    from fraudscreen.result import answer_text_problem

    if value is not None and (value != value.strip() or answer_text_problem(value, 64)
                              or not value or invisible_character(value)):
        raise click.BadParameter("must be 1 to 64 characters without a control or invisible "
                                 "character, surrounding spaces, an e-mail address or a card "
                                 "number, such as 2026-12.1")
    return value


def _writable_dir(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    check_writable(value, directory=True)
    return value


def _time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Parse an RFC 3339 option (a time without offset is UTC)."""
    from fraudscreen.schema import parse_time

    if value is None:
        return None
    try:
        return parse_time(value, param.name or "")
    except InvalidRequestError as exc:
        why = exc.details[0].message if exc.details else "must be an RFC 3339 time such as '2026-01-05T00:00:00Z'"
        raise click.BadParameter(f"{why}.") from None  # click names the option


def _dump_json(data: Any) -> str:
    """Standard JSON (no NaN or Infinity, which most readers refuse)."""
    try:
        return json.dumps(data, indent=2, allow_nan=False)
    except ValueError:
        raise click.ClickException("the result holds a number that is not finite") from None


def _replay_settings(ctx: click.Context, workers: int | None, rules_path: Path | None) -> Settings:
    """The command's settings, with ``--workers`` and ``--rules`` when given (``--rules`` is
    checked against ``--data`` by :func:`_check_options`)."""
    settings = _settings(ctx)
    if workers is not None:
        settings = settings.with_overrides(replay_workers=workers)
    if rules_path is None:
        return settings
    return settings.with_overrides(rules_path=rules_path)


def _first_feature_row(data_path: Path) -> dict[str, Any] | None:
    """The first row of ``data_path`` when it is a file of features (``export-training``, or a
    saved replay), read rather than replayed; None for score requests or a file that cannot be
    read (the command itself then names what is wrong with it)."""
    from fraudscreen.training.jsonl import iter_jsonl_lines
    from fraudscreen.training.logged import is_logged_row

    try:
        first = next(iter_jsonl_lines(data_path), None)
    except FraudscreenError:
        return None
    return first[1] if first is not None and is_logged_row(first[1]) else None


def _refuse_features(first: dict[str, Any], option: str, why: str) -> None:
    """UsageError: ``option`` cannot use the file of features that starts with ``first``."""
    kind = "a saved replay" if "replayed" in first else "an `export-training` file"
    raise click.UsageError(f"{option} needs score requests to replay: {kind} {why}")


def _check_read_rows_options(ctx: click.Context, first: dict[str, Any], segment_by: SegmentBy,
                             label_delay_days: float) -> None:
    """UsageError for --segment-by and --label-delay-days a file of features (its ``first``
    row) cannot follow: an export holds no order fields; a saved replay keeps its segments and
    the label delay that shaped its profiles (asked for explicitly, they must be the same)."""
    how = first.get("replayed")
    if not isinstance(how, dict):
        if segment_by != "scenario":
            _refuse_features(first, f"--segment-by {segment_by}", "holds no order fields")
        return
    given = click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP
    saved_by, saved_delay = how.get("segment_by"), how.get("label_delay_days")
    if ctx.get_parameter_source("segment_by") not in given and segment_by != saved_by:
        raise click.UsageError(f"--segment-by {segment_by}: this saved replay's rows have "
                               f"{f'segments by {saved_by}' if saved_by else 'no segments'}; "
                               "replay the score requests to break them down otherwise")
    if ctx.get_parameter_source("label_delay_days") not in given and label_delay_days != saved_delay:
        raise click.UsageError(f"--label-delay-days {label_delay_days:g}: this saved replay was "
                               f"made with {saved_delay} days, which shaped its profiles; replay "
                               "the score requests to use another delay")


def _check_options(ctx: click.Context, data_path: Path, segment_by: SegmentBy, label_delay_days: float,
                   rules_path: Path | None, outputs: dict[str, Path | None],
                   compare_path: Path | None = None) -> None:
    """What ``train`` and ``backtest`` check of ``--data``, its options and their outputs before
    they read (its first row read once): :func:`_distinct_outputs`,
    :func:`_check_read_rows_options`, and ``--rules`` and ``--save-replay`` only for score
    requests."""
    from fraudscreen.model import bundle_file

    if not data_path.is_file():  # e.g. <(zcat …): read more than once (first row, hash, rows)
        raise click.BadParameter(f"{data_path} is not a regular file; it is read more than once, "
                                 "so write the rows to a file first.", param_hint="--data")
    _distinct_outputs({"--data": data_path, "--rules": rules_path,
                       "--compare": bundle_file(compare_path) if compare_path else None}, outputs)
    if (first := _first_feature_row(data_path)) is None:
        return
    _check_read_rows_options(ctx, first, segment_by, label_delay_days)
    if rules_path is not None:
        _refuse_features(first, "--rules", "holds the hits of the rules it was made with")
    if outputs.get("--save-replay") is not None:
        _refuse_features(first, "--save-replay", "holds features already")


def _distinct_outputs(inputs: dict[str, Path | None], outputs: dict[str, Path | None]) -> None:
    """UsageError when an output file (option -> path) is an input (``--data``, ``--rules``,
    the ``--compare`` bundle) or another output: the output would replace a file to be read,
    or the two would overwrite each other."""
    seen = {file_identity(path): option for option, path in inputs.items() if path is not None}
    for option, path in outputs.items():
        if path is None:
            continue
        key = file_identity(path)
        if key in seen:
            raise click.UsageError(f"{option} and {seen[key]} name the same file ({path}); "
                                   "each output needs a file of its own")
        seen[key] = option


def _rules_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``--rules``: compiled at once, so a rule that does not load stops the command before any
    replay, naming the rule."""
    from fraudscreen.rules import RuleSet

    if value is not None:
        if not value.is_file():  # a pipe would be read empty the second time, or never end
            raise click.BadParameter(f"{value} is not a regular file; it is read more than once.")
        try:
            RuleSet.load(value)
        except FraudscreenError as exc:
            raise click.BadParameter(exc.message) from None
    return value


def _common_training_options(command: Any) -> Any:
    """--split, --test-fraction, --seed, --review-capacity, --min-reject-precision,
    --label-delay-days, --workers, --rules, --progress/--no-progress, --warm-up-days, --segment-by,
    --save-replay."""
    options = [
        click.option("--split", type=click.Choice(["time", "random"]), default="time", show_default=True,
                     help="time: test on the latest rows; random: stratified random test rows."),
        click.option("--test-fraction", type=_share(),
                     default=0.2, show_default=True, help="Share of replayed rows held out for testing."),
        click.option("--seed", type=SEED, default=0, show_default=True),
        click.option("--review-capacity", type=_share(),
                     default=0.05, show_default=True, help="Share of orders people can review."),
        click.option("--min-reject-precision", type=FiniteFloatRange(0.0, 1.0), default=0.95,
                     show_default=True, help="Lowest fraud share allowed above the reject threshold."),
        click.option("--label-delay-days", type=_DELAY, default=30.0, show_default=True,
                     help="When a fraud label has no label_time: order time plus this many days."),
        click.option("--workers", type=click.IntRange(min=0), default=None,
                     help="Processes that validate and enrich rows while the replay screens them "
                          "(0: none; default: FRAUDSCREEN_REPLAY_WORKERS, else one per core "
                          "beyond the first)."),
        click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     default=None, callback=_rules_file,
                     help="Rules file to replay with instead of the configured one "
                          "(FRAUDSCREEN_RULES_PATH): back-test a rule before it goes live."),
        click.option("--progress/--no-progress", default=True, show_default=True,
                     help="Show a progress bar while replaying (on a terminal) and what comes next."),
        click.option("--warm-up-days", type=_DELAY, default=0.0, show_default=True,
                     help="Replay the file's first days only to build the profiles of the later "
                          "orders: none of their orders trains or tests (their profiles lack the "
                          "history from before the file)."),
        click.option("--segment-by", type=click.Choice(SEGMENT_FIELDS), default="scenario",
                     show_default=True,
                     help="Break the test rows down by this: the simulator's scenario, or a field "
                          "of the order (your own history has no scenarios)."),
        click.option("--save-replay", "save_replay_path", type=OutputFile(),
                     default=None, callback=_writable_file,
                     help="Save the replayed rows here once replayed (.gz compresses): later "
                          "back-tests and training read them with --data instead of replaying "
                          "(docs/backtest.md)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command()
@click.option("--orders", "n_orders", type=click.IntRange(min=1), default=20_000, show_default=True)
@click.option("--seed", type=SEED, default=1, show_default=True)
@click.option("--start", default="2026-01-05T00:00:00+00:00", show_default=True, callback=_time_option,
              help="Time of the first order (RFC 3339; without an offset: UTC).")
@click.option("--per-day", "orders_per_day", type=FiniteFloatRange(min=1, max=1e6), default=150,
              show_default=True, help="Orders a day: the orders spread over --orders / --per-day days.")
@click.option("--out", type=OutputFile(), required=True, callback=_writable_file,
              help="JSON Lines file to write (.gz compresses); make data writes the shipped "
                   "sample, data/orders.jsonl.gz.")
def simulate(n_orders: int, seed: int, start: datetime, orders_per_day: float, out: Path) -> None:
    """Generate labelled orders of a hosting shop as JSON Lines."""
    from fraudscreen.training.jsonl import write_json_lines
    from fraudscreen.training.simulate import simulate_lines, start_range

    try:
        earliest, latest = start_range(n_orders, orders_per_day)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--orders") from None
    if not earliest <= start <= latest:
        raise click.BadParameter(f"must lie from {earliest:%Y-%m-%d} to {latest:%Y-%m-%d} for "
                                 f"{n_orders} orders (every time in the rows must fall in 1970-2099)",
                                 param_hint="--start")
    try:
        lines = simulate_lines(n_orders, seed=seed, start=start, orders_per_day=orders_per_day)
        count = replace_file(out, lambda partial: write_json_lines(lines, partial))
    except OSError as exc:
        raise click.ClickException(f"{_cannot_write(out, exc)}; the previous file, if any, "
                                   "is unchanged") from None
    click.echo(f"Wrote {count} order{'' if count == 1 else 's'} to {out}.")


@click.command()
@click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=SAMPLE_DATA, show_default=_SAMPLE_SHOWN, help=_DATA_HELP)
@click.option("--out", type=OutputFolder(), required=True, callback=_writable_dir,
              help="Folder for model.joblib and the model card (models/NAME; make model writes "
                   "the shipped models/default, which the service loads unless configured).")
@click.option("--version", "version", default=None, callback=_model_version,
              help="Model version (default: from the data hash).")
@_common_training_options
@click.pass_context
def train(ctx: click.Context, data_path: Path, out: Path, version: str | None, split: str,
          test_fraction: float, seed: int, review_capacity: float, min_reject_precision: float,
          label_delay_days: float, workers: int | None, rules_path: Path | None, progress: bool,
          warm_up_days: float, segment_by: SegmentBy, save_replay_path: Path | None) -> None:
    """Replay labelled orders through the screening code, train a bundle, write its model card."""
    from fraudscreen.model import BUNDLE_FILE
    from fraudscreen.training.backtest_print import before_saving
    from fraudscreen.training.card import CARD_FILES
    from fraudscreen.training.retrain import train_from_file

    model_files = {f"--out's {name}": out / name for name in (BUNDLE_FILE, *CARD_FILES)}
    for path in model_files.values():
        check_output(_settings(ctx), path, "--out", model_bundle_ok=True)
    _check_options(ctx, data_path, segment_by, label_delay_days, rules_path,
                   {**model_files, "--save-replay": save_replay_path})
    try:
        result, report = train_from_file(
            data_path, out, version=version, seed=seed, review_capacity=review_capacity,
            min_reject_precision=min_reject_precision, settings=_replay_settings(ctx, workers, rules_path),
            split=split,  # type: ignore[arg-type]
            test_fraction=test_fraction, label_delay=timedelta(days=label_delay_days),
            progress=progress, segment_by=segment_by, warm_up_days=warm_up_days,
            save_replay=save_replay_path,
        )
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the model to {out} "
                                   f"({exc.strerror or type(exc).__name__})") from None
    metrics = result.bundle.metrics
    data = report["data"]
    if data["rows_skipped"]:  # said in the card too, but a share of the data left out is news
        click.echo(f"Warning: {data['rows_skipped']:,} of {data['rows_read']:,} rows were skipped"
                   f"{before_saving(data)}.", err=True)
    click.echo(f"Model {result.bundle.version} written to {out} (card: {out / 'MODEL_CARD.md'}).")
    click.echo(_dump_json({k: metrics[k] for k in sorted(metrics) if not isinstance(metrics[k], dict)}))
    if save_replay_path is not None:
        click.echo(f"Wrote {save_replay_path}.")
    _echo_save_replay_hint(report, data_path, save_replay_path)


@click.command()
@click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=SAMPLE_DATA, show_default=_SAMPLE_SHOWN, help=_DATA_HELP)
@_common_training_options
@click.option("--json", "json_path", type=OutputFile(), default=None,
              callback=_writable_file,
              help="Also write the report as JSON here (keys: docs/backtest.md; .gz compresses).")
@click.option("--compare", "compare_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="A model bundle (model.joblib or its folder), e.g. the one in production, "
                   "to measure on the same test rows.")
@click.option("--labels", type=click.Choice(["all", "known-at-test-start"]), default="all",
              show_default=True,
              help="Train with every label of the train rows, or only with the fraud labels known "
                   "at the first test order, as a retrain on that day would (time split only).")
@click.option("--test-orders", "test_orders_path", type=OutputFile(),
              default=None, callback=_writable_file,
              help="Also write one CSV line per test row here (.gz compresses): its line in "
                   "--data, transaction id, label, probability, each system's decision and the "
                   "rules that fired (columns: docs/backtest.md).")
@click.option("--capacities", default=None, show_default=CAPACITIES_SHOWN, callback=_capacities,
              help="Other review capacities (shares, comma-separated) to report the service at, "
                   "each with its own thresholds: what it would flag, catch and hold up.")
@click.pass_context
def backtest(ctx: click.Context, data_path: Path, split: str, test_fraction: float, seed: int,
             review_capacity: float, min_reject_precision: float, label_delay_days: float,
             workers: int | None, rules_path: Path | None, json_path: Path | None, progress: bool,
             compare_path: Path | None, labels: str, warm_up_days: float, segment_by: SegmentBy,
             test_orders_path: Path | None, save_replay_path: Path | None,
             capacities: tuple[float, ...] | None) -> None:
    """Replay labelled orders, train on the train rows, report rules / model / both on the test rows."""
    from fraudscreen.training.backtest import run_backtest
    from fraudscreen.training.backtest_print import print_report

    if labels != "all" and split != "time":
        raise click.UsageError("--labels known-at-test-start needs --split time")
    _check_options(ctx, data_path, segment_by, label_delay_days, rules_path,
                   {"--json": json_path, "--test-orders": test_orders_path, "--save-replay": save_replay_path},
                   compare_path)
    if progress:
        click.echo(f"Reading {data_path} …", err=True)  # replayed, or exported features read
    try:
        done = run_backtest(
            data_path, settings=_replay_settings(ctx, workers, rules_path), split=split,  # type: ignore[arg-type]
            test_fraction=test_fraction,
            seed=seed, review_capacity=review_capacity, min_reject_precision=min_reject_precision,
            label_delay=timedelta(days=label_delay_days), progress=progress,
            compare_path=compare_path / "model.joblib" if compare_path and compare_path.is_dir() else compare_path,
            labels=labels.replace("-", "_"),  # type: ignore[arg-type]
            segment_by=segment_by, warm_up_days=warm_up_days, save_replay=save_replay_path,
            **({"capacities": capacities} if capacities is not None else {}),
        )
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    # The files first: a terminal that goes away (`| head`) must not lose a long replay's report.
    report = done.report
    not_written = [problem for problem in (
        _write_report(report, json_path) if json_path is not None else None,
        _write_decided_orders(done, data_path, test_orders_path) if test_orders_path is not None else None,
    ) if problem is not None]
    print_report(report)
    if not_written:
        raise click.ClickException("; ".join(not_written))
    for path in (json_path, test_orders_path, save_replay_path):
        if path is not None:
            click.echo(f"Wrote {path}.")
    _echo_save_replay_hint(report, data_path, save_replay_path)


def _echo_save_replay_hint(report: dict[str, Any], data_path: Path, saved_to: Path | None) -> None:
    """After a long replay that saved nothing (``saved_to`` None), :func:`save_replay_hint`
    on standard error."""
    hint = save_replay_hint(report["replay"], data_path) if saved_to is None else None
    if hint is not None:
        click.echo(hint, err=True)


def save_replay_hint(replayed: dict[str, Any], data_path: Path) -> str | None:
    """After a long replay (the report's ``replay``), how to skip it next time: None when short,
    or when the rows were not replayed (a saved replay, an export)."""
    seconds = float(replayed["seconds"])
    if replayed["method"] != "replay" or seconds < SAVE_REPLAY_HINT_SECONDS:
        return None
    minutes, rest = divmod(round(seconds), 60)
    return (f"The replay took {minutes} min {rest} s. To back-test or train on these rows again "
            f"(another split, seed, capacity or --compare), replay them once with --save-replay "
            f"FILE and pass --data FILE instead of {data_path.name}: the same rows and features, "
            "read many times faster (docs/backtest.md).")


def _write_decided_orders(done: Backtest, data_path: Path, path: Path) -> str | None:
    """Write the back-test's test rows as CSV to ``path``; why it could not be, else None."""
    from fraudscreen.training.decided_orders import write_decided_orders
    from fraudscreen.training.jsonl import line_numbers

    try:
        write_decided_orders(path, done, line_numbers(data_path))
    except OSError as exc:
        return _cannot_write(path, exc)
    except DataFileError as exc:  # the data file changed or went away since it was replayed
        return f"cannot write {path}: {exc.message}"
    return None


def _cannot_write(path: Path, exc: OSError) -> str:
    """``cannot write PATH (the system's reason)``: the name asked for, never a partial file's."""
    return f"cannot write {path} ({exc.strerror or type(exc).__name__})"


def _write_report(report: dict[str, Any], path: Path) -> str | None:
    """Write the back-test report as JSON to ``path``; why it could not be written, else None."""
    from fraudscreen.files import text_writer

    try:  # a .gz name compresses, as every other output's
        replace_file(path, text_writer(_dump_json(report) + "\n"))
    except OSError as exc:
        return _cannot_write(path, exc)
    return None


@click.command("export-training")
@click.option("--out", type=OutputFile(), required=True,
              callback=_writable_file, help="JSON Lines file to write (.gz compresses).")
@click.option("--label-delay-days", type=_DELAY, default=30.0, show_default=True,
              help="An order without an outcome counts as legit once this many days have passed.")
@click.option("--since", default=None, callback=_time_option,
              help="Only orders at or after this time (RFC 3339).")
@click.option("--until", default=None, callback=_time_option,
              help="Only orders before this time (RFC 3339).")
@click.pass_context
def export_training(ctx: click.Context, out: Path, label_delay_days: float, since: datetime | None,
                    until: datetime | None) -> None:
    """Write the store's labelled orders as training rows: the features the service logged.

    The file holds no account, email, IP, device or card; `train` and `backtest` read it with
    `--data` instead of replaying requests.
    """
    from fraudscreen.cli import cli_store
    from fraudscreen.training.logged import export_labelled

    if since is not None and until is not None and since >= until:
        raise click.BadParameter("must be before --until.", param_hint="--since")
    try:
        store = cli_store(_settings(ctx), must_exist=True)
        try:
            summary = export_labelled(store, out, label_delay=timedelta(days=label_delay_days),
                                      since=since, until=until)
        finally:
            store.close()
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(f"{_cannot_write(out, exc)}; the previous file, if any, "
                                   "is unchanged") from None
    click.echo(f"Wrote {summary.rows} labelled orders to {out}: {summary.fraud} fraud, "
               f"{summary.legit} legit; left out {summary.too_recent} too recent to label and "
               f"{summary.other_schema} logged with other features.")


COMMANDS = (simulate, train, backtest, export_training)
"""Every analyst command, for ``fraudscreen.cli`` to register."""
