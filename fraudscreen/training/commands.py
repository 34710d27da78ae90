"""CLI commands of the analysts: simulate order streams, train model bundles, back-test."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fraudscreen.config import SAMPLE_DATA, Settings
from fraudscreen.errors import DataFileError, FraudscreenError
from fraudscreen.files import replace_file
from fraudscreen.outputs import OutputFile, OutputFolder, check_output
from fraudscreen.training.options import (
    CAPACITIES_SHOWN,
    DATA_HELP,
    DELAY,
    SEED,
    FiniteFloatRange,
    check_options,
    common_training_options,
    model_version,
    parse_capacities,
    settings_of,
    time_option,
    writable_dir,
    writable_file,
)
from fraudscreen.training.segments import SegmentBy

if TYPE_CHECKING:
    from fraudscreen.training.backtest import Backtest

SAVE_REPLAY_HINT_SECONDS = 60.0
"""A replay of score requests at least this long ends with the hint of :func:`save_replay_hint`."""
_SAMPLE_SHOWN = "data/orders.jsonl.gz in the repository"


def _dump_json(data: Any) -> str:
    """Standard JSON (no NaN or Infinity, which most readers refuse)."""
    try:
        return json.dumps(data, indent=2, allow_nan=False)
    except ValueError:
        raise click.ClickException("the result holds a number that is not finite") from None


def _replay_settings(ctx: click.Context, workers: int | None, rules_path: Path | None) -> Settings:
    """The command's settings, with ``--workers`` and ``--rules`` when given (``--rules`` is
    checked against ``--data`` by :func:`check_options`)."""
    settings = settings_of(ctx)
    if workers is not None:
        settings = settings.with_overrides(replay_workers=workers)
    if rules_path is None:
        return settings
    return settings.with_overrides(rules_path=rules_path)


@click.command()
@click.option("--orders", "n_orders", type=click.IntRange(min=1), default=20_000, show_default=True)
@click.option("--seed", type=SEED, default=1, show_default=True)
@click.option("--start", default="2026-01-05T00:00:00+00:00", show_default=True, callback=time_option,
              help="Time of the first order (RFC 3339; without an offset: UTC).")
@click.option("--per-day", "orders_per_day", type=FiniteFloatRange(min=1, max=1e6), default=150,
              show_default=True, help="Orders a day: the orders spread over --orders / --per-day days.")
@click.option("--out", type=OutputFile(), required=True, callback=writable_file,
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
              default=SAMPLE_DATA, show_default=_SAMPLE_SHOWN, help=DATA_HELP)
@click.option("--out", type=OutputFolder(), required=True, callback=writable_dir,
              help="Folder for model.joblib and the model card (models/NAME; make model writes "
                   "the shipped models/default, which the service loads unless configured).")
@click.option("--version", "version", default=None, callback=model_version,
              help="Model version (default: from the data hash).")
@common_training_options
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
        check_output(settings_of(ctx), path, "--out", model_bundle_ok=True)
    check_options(ctx, data_path, segment_by, label_delay_days, rules_path,
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
              default=SAMPLE_DATA, show_default=_SAMPLE_SHOWN, help=DATA_HELP)
@common_training_options
@click.option("--json", "json_path", type=OutputFile(), default=None,
              callback=writable_file,
              help="Also write the report as JSON here (keys: docs/backtest.md; .gz compresses).")
@click.option("--compare", "compare_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="A model bundle (model.joblib or its folder), e.g. the one in production, "
                   "to measure on the same test rows.")
@click.option("--labels", type=click.Choice(["all", "known-at-test-start"]), default="all",
              show_default=True,
              help="Train with every label of the train rows, or only with the fraud labels known "
                   "at the first test order, as a retrain on that day would (time split only).")
@click.option("--test-orders", "test_orders_path", type=OutputFile(),
              default=None, callback=writable_file,
              help="Also write one CSV line per test row here (.gz compresses): its line in "
                   "--data, transaction id, label, probability, each system's decision and the "
                   "rules that fired (columns: docs/backtest.md).")
@click.option("--capacities", default=None, show_default=CAPACITIES_SHOWN, callback=parse_capacities,
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
    check_options(ctx, data_path, segment_by, label_delay_days, rules_path,
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
              callback=writable_file, help="JSON Lines file to write (.gz compresses).")
@click.option("--label-delay-days", type=DELAY, default=30.0, show_default=True,
              help="An order without an outcome counts as legit once this many days have passed.")
@click.option("--since", default=None, callback=time_option,
              help="Only orders at or after this time (RFC 3339).")
@click.option("--until", default=None, callback=time_option,
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
        store = cli_store(settings_of(ctx), must_exist=True)
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
