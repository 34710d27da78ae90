"""``fraudscreen erase``, ``fraudscreen export`` and ``fraudscreen purge``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fraudscreen.config import Settings
from fraudscreen.errors import FraudscreenError
from fraudscreen.outputs import OutputFile, check_output

CLI_ACTOR = "cli"
"""The audit log's actor for changes and reads made from the command line."""


def _open_store(ctx: click.Context) -> tuple[Any, Settings]:
    from fraudscreen.cli import cli_store  # ClickException when the database is missing or unusable

    settings: Settings = ctx.obj
    return cli_store(settings, must_exist=True), settings


def _account_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an account id that names no account: blank, not UTF-8, with a control character,
    longer than the store's ids (:func:`~fraudscreen.cli.readable_text`), or holding a card
    number, which no stored order has (the score endpoint refuses it) and the audit log would
    keep as the target. Surrounding spaces go, as the score request's ids lose them."""
    from fraudscreen.cli import readable_text
    from fraudscreen.errors import CardNumberRefusedError
    from fraudscreen.schema import MAX_ACCOUNT_ID, refuse_card_numbers

    value = readable_text(value, longest=MAX_ACCOUNT_ID)
    try:
        refuse_card_numbers({"account_id": value})
    except CardNumberRefusedError:
        raise click.BadParameter("looks like a full card number; no account has one as its id.") from None
    return value


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.command()
@click.argument("account_id", callback=_account_id)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase(ctx: click.Context, account_id: str, yes: bool) -> None:
    """Erase ACCOUNT_ID's personal data everywhere and print the report (idempotent)."""
    from fraudscreen.privacy.erasure import erase_account

    store, settings = _open_store(ctx)  # first: no question about a database that is not there
    try:
        if not yes:
            click.confirm("Erase this account's data? This cannot be undone.", abort=True)
        report = erase_account(store, settings, account_id, actor=CLI_ACTOR)
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    _echo_json(report.to_dict())
    if not report.held:
        click.echo("Nothing was held on this account: is the id right? (An erasure repeated "
                   "finds nothing too.)", err=True)


def _output_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``--out``: a writable file that is none of the service's own (stdout for ``-``)."""
    if value is None or str(value) == "-":
        return None
    check_output(ctx.obj, value, "--out")
    return value


@click.command()
@click.argument("account_id", callback=_account_id)
@click.option("--out", type=OutputFile(), default=None, callback=_output_file,
              help="Write here, replacing the file only once complete (default stdout).")
@click.pass_context
def export(ctx: click.Context, account_id: str, out: Path | None) -> None:
    """Print everything held on ACCOUNT_ID as JSON."""
    from fraudscreen.files import replace_text
    from fraudscreen.privacy.export import export_account

    store, _settings = _open_store(ctx)
    try:
        data = export_account(store, account_id, actor=CLI_ACTOR)
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    text = json.dumps(data, indent=2, default=str) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        replace_text(out, text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out} ({exc.strerror or type(exc).__name__})") from None


@click.command()
@click.pass_context
def purge(ctx: click.Context) -> None:
    """Apply the retention periods (safe to run from cron; idempotent) and print the counts."""
    from fraudscreen.privacy.retention import purge as run_purge

    store, settings = _open_store(ctx)
    try:
        report = run_purge(store, settings)
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    _echo_json(report.to_dict())


COMMANDS = (erase, export, purge)
"""The commands to add to the ``fraudscreen`` group."""
