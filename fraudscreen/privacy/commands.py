"""``fraudscreen erase``, ``fraudscreen export`` and ``fraudscreen purge``."""

from __future__ import annotations

import json
from typing import Any

import click

from fraudscreen.config import Settings
from fraudscreen.errors import FraudscreenError

CLI_ACTOR = "cli"
"""The audit log's actor for changes and reads made from the command line."""


def _open_store(ctx: click.Context) -> tuple[Any, Settings]:
    from fraudscreen.cli import cli_store  # ClickException when the database is missing or unusable

    settings: Settings = ctx.obj
    return cli_store(settings, must_exist=True), settings


def _account_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an empty (or blank) account id: it names no account."""
    if not value.strip():
        raise click.BadParameter("must not be empty.")
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


@click.command()
@click.argument("account_id", callback=_account_id)
@click.option("--out", type=click.File("w"), default="-", help="Write here (default stdout).")
@click.pass_context
def export(ctx: click.Context, account_id: str, out: Any) -> None:
    """Print everything held on ACCOUNT_ID as JSON."""
    from fraudscreen.privacy.export import export_account

    store, _settings = _open_store(ctx)
    try:
        data = export_account(store, account_id, actor=CLI_ACTOR)
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    out.write(json.dumps(data, indent=2, default=str) + "\n")


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
