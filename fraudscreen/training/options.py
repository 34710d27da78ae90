"""The options of the analysts' commands (``simulate``, ``train``, ``backtest``,
``export-training``): their types, the checks made before anything is read, and the set
``train`` and ``backtest`` share."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from fraudscreen.config import Settings
from fraudscreen.errors import FraudscreenError, InvalidRequestError
from fraudscreen.outputs import OutputFile, check_output, check_writable, file_identity
from fraudscreen.training.segments import SEGMENT_FIELDS, SegmentBy

MAX_LABEL_DELAY_DAYS = 36_500.0
"""Largest ``--label-delay-days`` (a century; far below ``timedelta``'s limit)."""
SEED = click.IntRange(0, 2**32 - 1)
"""Seeds numpy and scikit-learn accept."""
DATA_HELP = (
    "Labelled orders, JSON Lines (.jsonl or .jsonl.gz): score requests plus 'label' and optional "
    "'label_time' (replayed), or an `export-training` file (read as logged)."
)


def settings_of(ctx: click.Context) -> Settings:
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


def share_range() -> FiniteFloatRange:
    return FiniteFloatRange(0.0, 1.0, min_open=True, max_open=True)


DELAY = FiniteFloatRange(0.0, MAX_LABEL_DELAY_DAYS)


CAPACITIES_SHOWN = "0.01,0.02,0.05,0.1,0.2"
"""``--capacities``' default as ``--help`` shows it: ``capacity.DEFAULT_CAPACITIES`` (a test
keeps the two equal; this module imports no NumPy before a command runs)."""


def parse_capacities(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, ...] | None:
    """``--capacities 0.01,0.05,0.1``: each a share between 0 and 1, exclusive; None: the default."""
    if value is None:
        return None
    shares = share_range()
    parts = [part.strip() for part in value.split(",")]
    try:
        [float(part) for part in parts]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of shares, such as "
                                 f"{CAPACITIES_SHOWN}") from None
    return tuple(shares.convert(part, param, ctx) for part in parts)


def writable_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None:
        check_output(settings_of(ctx), value, param.opts[0] if param.opts else "the output")
    return value


def invisible_character(text: str) -> bool:
    """True when ``text`` holds a formatting character that shows as nothing (U+200B, U+2060,
    a direction mark): a new version must read as it is written."""
    import unicodedata

    return any(unicodedata.category(c) == "Cf" for c in text)


def model_version(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
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


def writable_dir(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    check_writable(value, directory=True)
    return value


def time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Parse an RFC 3339 option (a time without offset is UTC)."""
    from fraudscreen.schema import parse_time

    if value is None:
        return None
    try:
        return parse_time(value, param.name or "")
    except InvalidRequestError as exc:
        why = exc.details[0].message if exc.details else "must be an RFC 3339 time such as '2026-01-05T00:00:00Z'"
        raise click.BadParameter(f"{why}.") from None  # click names the option


def first_feature_row(data_path: Path) -> dict[str, Any] | None:
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


def refuse_features(first: dict[str, Any], option: str, why: str) -> None:
    """UsageError: ``option`` cannot use the file of features that starts with ``first``."""
    kind = "a saved replay" if "replayed" in first else "an `export-training` file"
    raise click.UsageError(f"{option} needs score requests to replay: {kind} {why}")


def check_read_rows_options(ctx: click.Context, first: dict[str, Any], segment_by: SegmentBy,
                             label_delay_days: float) -> None:
    """UsageError for --segment-by and --label-delay-days a file of features (its ``first``
    row) cannot follow: an export holds no order fields; a saved replay keeps its segments and
    the label delay that shaped its profiles (asked for explicitly, they must be the same)."""
    how = first.get("replayed")
    if not isinstance(how, dict):
        if segment_by != "scenario":
            refuse_features(first, f"--segment-by {segment_by}", "holds no order fields")
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


def check_options(ctx: click.Context, data_path: Path, segment_by: SegmentBy, label_delay_days: float,
                   rules_path: Path | None, outputs: dict[str, Path | None],
                   compare_path: Path | None = None) -> None:
    """What ``train`` and ``backtest`` check of ``--data``, its options and their outputs before
    they read (its first row read once): :func:`distinct_outputs`,
    :func:`check_read_rows_options`, and ``--rules`` and ``--save-replay`` only for score
    requests."""
    from fraudscreen.model import bundle_file

    if not data_path.is_file():  # e.g. <(zcat …): read more than once (first row, hash, rows)
        raise click.BadParameter(f"{data_path} is not a regular file; it is read more than once, "
                                 "so write the rows to a file first.", param_hint="--data")
    distinct_outputs({"--data": data_path, "--rules": rules_path,
                       "--compare": bundle_file(compare_path) if compare_path else None}, outputs)
    if (first := first_feature_row(data_path)) is None:
        return
    check_read_rows_options(ctx, first, segment_by, label_delay_days)
    if rules_path is not None:
        refuse_features(first, "--rules", "holds the hits of the rules it was made with")
    if outputs.get("--save-replay") is not None:
        refuse_features(first, "--save-replay", "holds features already")


def distinct_outputs(inputs: dict[str, Path | None], outputs: dict[str, Path | None]) -> None:
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


def rules_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
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


def common_training_options(command: Any) -> Any:
    """--split, --test-fraction, --seed, --review-capacity, --min-reject-precision,
    --label-delay-days, --workers, --rules, --progress/--no-progress, --warm-up-days, --segment-by,
    --save-replay."""
    options = [
        click.option("--split", type=click.Choice(["time", "random"]), default="time", show_default=True,
                     help="time: test on the latest rows; random: stratified random test rows."),
        click.option("--test-fraction", type=share_range(),
                     default=0.2, show_default=True, help="Share of replayed rows held out for testing."),
        click.option("--seed", type=SEED, default=0, show_default=True),
        click.option("--review-capacity", type=share_range(),
                     default=0.05, show_default=True, help="Share of orders people can review."),
        click.option("--min-reject-precision", type=FiniteFloatRange(0.0, 1.0), default=0.95,
                     show_default=True, help="Lowest fraud share allowed above the reject threshold."),
        click.option("--label-delay-days", type=DELAY, default=30.0, show_default=True,
                     help="When a fraud label has no label_time: order time plus this many days."),
        click.option("--workers", type=click.IntRange(min=0), default=None,
                     help="Processes that validate and enrich rows while the replay screens them "
                          "(0: none; default: FRAUDSCREEN_REPLAY_WORKERS, else one per core "
                          "beyond the first)."),
        click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     default=None, callback=rules_file,
                     help="Rules file to replay with instead of the configured one "
                          "(FRAUDSCREEN_RULES_PATH): back-test a rule before it goes live."),
        click.option("--progress/--no-progress", default=True, show_default=True,
                     help="Show a progress bar while replaying (on a terminal) and what comes next."),
        click.option("--warm-up-days", type=DELAY, default=0.0, show_default=True,
                     help="Replay the file's first days only to build the profiles of the later "
                          "orders: none of their orders trains or tests (their profiles lack the "
                          "history from before the file)."),
        click.option("--segment-by", type=click.Choice(SEGMENT_FIELDS), default="scenario",
                     show_default=True,
                     help="Break the test rows down by this: the simulator's scenario, or a field "
                          "of the order (your own history has no scenarios)."),
        click.option("--save-replay", "save_replay_path", type=OutputFile(),
                     default=None, callback=writable_file,
                     help="Save the replayed rows here once replayed (.gz compresses): later "
                          "back-tests and training read them with --data instead of replaying "
                          "(docs/backtest.md)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command
