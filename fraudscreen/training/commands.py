"""CLI commands of the analysts: simulate order streams, train model bundles, back-test."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from fraudscreen.errors import FraudscreenError, InvalidRequestError

_DATA_HELP = (
    "Labelled orders, JSON Lines (.jsonl or .jsonl.gz): score requests plus 'label' and optional "
    "'label_time' (replayed), or an `export-training` file (read as logged)."
)


def _settings(ctx: click.Context) -> Any:
    if ctx.obj is None:  # called outside the ``fraudscreen`` group
        from fraudscreen.config import load_settings

        ctx.obj = load_settings()
    return ctx.obj


def _common_training_options(command: Any) -> Any:
    """--split, --test-fraction, --seed, --review-capacity, --min-reject-precision, --label-delay-days."""
    options = [
        click.option("--split", type=click.Choice(["time", "random"]), default="time", show_default=True,
                     help="time: test on the latest rows; random: stratified random test rows."),
        click.option("--test-fraction", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
                     default=0.2, show_default=True, help="Share of replayed rows held out for testing."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--review-capacity", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
                     default=0.05, show_default=True, help="Share of orders people can review."),
        click.option("--min-reject-precision", type=click.FloatRange(0.0, 1.0), default=0.95,
                     show_default=True, help="Lowest fraud share allowed above the reject threshold."),
        click.option("--label-delay-days", type=click.FloatRange(0.0), default=30.0, show_default=True,
                     help="When a fraud label has no label_time: order time plus this many days."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command()
@click.option("--orders", "n_orders", type=int, default=20_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--start", default="2026-01-05T00:00:00+00:00", show_default=True,
              help="Time of the first order (RFC 3339).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("data/orders.jsonl.gz"),
              show_default=True)
def simulate(n_orders: int, seed: int, start: str, out: Path) -> None:
    """Generate labelled orders of a hosting shop as JSON Lines."""
    from datetime import datetime

    from fraudscreen.training.jsonl import write_jsonl
    from fraudscreen.training.simulate import simulate_orders

    out.parent.mkdir(parents=True, exist_ok=True)
    count = write_jsonl(simulate_orders(n_orders, seed=seed, start=datetime.fromisoformat(start)), out)
    click.echo(f"Wrote {count} orders to {out}.")


@click.command()
@click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("data/orders.jsonl.gz"), show_default=True, help=_DATA_HELP)
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/default"),
              show_default=True, help="Folder for model.joblib and the model card.")
@click.option("--version", "version", default=None, help="Model version (default: from the data hash).")
@_common_training_options
@click.pass_context
def train(ctx: click.Context, data_path: Path, out: Path, version: str | None, split: str,
          test_fraction: float, seed: int, review_capacity: float, min_reject_precision: float,
          label_delay_days: float) -> None:
    """Replay labelled orders through the screening code, train a bundle, write its model card."""
    from fraudscreen.training.pipeline import train_from_file

    try:
        result = train_from_file(
            data_path, out, version=version, seed=seed, review_capacity=review_capacity,
            min_reject_precision=min_reject_precision, settings=_settings(ctx), split=split,  # type: ignore[arg-type]
            test_fraction=test_fraction, label_delay=timedelta(days=label_delay_days),
        )
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    metrics = result.bundle.metrics
    click.echo(f"Model {result.bundle.version} written to {out} (card: {out / 'MODEL_CARD.md'}).")
    click.echo(json.dumps({k: metrics[k] for k in sorted(metrics) if not isinstance(metrics[k], dict)},
                          indent=2))


@click.command()
@click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("data/orders.jsonl.gz"), show_default=True, help=_DATA_HELP)
@_common_training_options
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report as JSON here (keys: docs/backtest.md).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar while replaying.")
@click.option("--compare", "compare_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="A model bundle (model.joblib or its folder), e.g. the one in production, "
                   "to measure on the same test rows.")
@click.pass_context
def backtest(ctx: click.Context, data_path: Path, split: str, test_fraction: float, seed: int,
             review_capacity: float, min_reject_precision: float, label_delay_days: float,
             json_path: Path | None, progress: bool, compare_path: Path | None) -> None:
    """Replay labelled orders, train on the train rows, report rules / model / both on the test rows."""
    from fraudscreen.training.backtest import print_report, run_backtest

    if progress:
        click.echo(f"Replaying {data_path} …", err=True)
    try:
        report = run_backtest(
            data_path, settings=_settings(ctx), split=split, test_fraction=test_fraction,  # type: ignore[arg-type]
            seed=seed, review_capacity=review_capacity, min_reject_precision=min_reject_precision,
            label_delay=timedelta(days=label_delay_days), progress=progress,
            compare_path=compare_path / "model.joblib" if compare_path and compare_path.is_dir() else compare_path,
        )
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    print_report(report)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        click.echo(f"Wrote {json_path}.")


@click.command("export-training")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="JSON Lines file to write (.gz compresses).")
@click.option("--label-delay-days", type=click.FloatRange(0.0), default=30.0, show_default=True,
              help="An order without an outcome counts as legit once this many days have passed.")
@click.option("--since", default=None, help="Only orders at or after this time (RFC 3339).")
@click.option("--until", default=None, help="Only orders before this time (RFC 3339).")
@click.pass_context
def export_training(ctx: click.Context, out: Path, label_delay_days: float, since: str | None,
                    until: str | None) -> None:
    """Write the store's labelled orders as training rows: the features the service logged.

    The file holds no account, email, IP, device or card; `train` and `backtest` read it with
    `--data` instead of replaying requests.
    """
    from fraudscreen.schema import parse_time
    from fraudscreen.store import open_store
    from fraudscreen.training.logged import export_labelled

    try:
        bounds = {name: parse_time(value, f"--{name}") if value else None
                  for name, value in (("since", since), ("until", until))}
    except InvalidRequestError as exc:
        raise click.BadParameter("; ".join(f"{d.pointer} {d.message}" for d in exc.details)) from None
    try:
        store = open_store(_settings(ctx))
        try:
            summary = export_labelled(store, out, label_delay=timedelta(days=label_delay_days),
                                      **bounds)
        finally:
            store.close()
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Wrote {summary.rows} labelled orders to {out}: {summary.fraud} fraud, "
               f"{summary.legit} legit; left out {summary.too_recent} too recent to label and "
               f"{summary.other_schema} logged with other features.")


COMMANDS = (simulate, train, backtest, export_training)
"""Every analyst command, for ``fraudscreen.cli`` to register."""
