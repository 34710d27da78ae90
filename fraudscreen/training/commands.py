"""CLI commands of the analysts: simulate order streams, train model bundles."""

from __future__ import annotations

import json
from pathlib import Path

import click


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
@click.option("--data", "data_path", type=click.Path(exists=True, path_type=Path),
              default=Path("data/orders.jsonl.gz"), show_default=True,
              help="Labelled orders, JSON Lines.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/default"),
              show_default=True, help="Folder for model.joblib and the model card.")
@click.option("--version", "version", default=None, help="Model version (default: from the data hash).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--review-capacity", type=float, default=0.05, show_default=True)
@click.option("--min-reject-precision", type=float, default=0.95, show_default=True)
@click.pass_context
def train(ctx: click.Context, data_path: Path, out: Path, version: str | None, seed: int,
          review_capacity: float, min_reject_precision: float) -> None:
    """Replay labelled orders through the screening code and train a model bundle."""
    from fraudscreen.training.pipeline import train_from_file

    result = train_from_file(
        data_path, out, version=version, seed=seed, review_capacity=review_capacity,
        min_reject_precision=min_reject_precision, settings=ctx.obj,
    )
    metrics = result.bundle.metrics
    click.echo(f"Model {result.bundle.version} written to {out}.")
    click.echo(json.dumps({k: metrics[k] for k in sorted(metrics) if not isinstance(metrics[k], dict)},
                          indent=2))
