"""The ``fraudscreen`` command line: serve, score, keys, lists, database, simulate, train."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from fraudscreen.config import Settings, load_settings
from fraudscreen.errors import FraudscreenError

DEFAULT_SCOPES = ("score", "outcomes")


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj  # type: ignore[no-any-return]


def _store(settings: Settings) -> Any:
    from fraudscreen.store import open_store

    return open_store(settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data directory (default ./var, or FRAUDSCREEN_DATA_DIR).")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Order fraud screening: GeoIP, account profiles, a model and rules."""
    try:
        ctx.obj = load_settings(data_dir=data_dir)
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 2).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Migrate the database and run the API under gunicorn."""
    from fraudscreen.server import run_server

    settings = _settings(ctx).with_overrides(
        **{k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    )
    store = _store(settings)
    if not store.list_api_keys():
        _, key = store.create_api_key("checkout", DEFAULT_SCOPES)
        click.echo("Created the first API key (scopes: score, outcomes). It is shown only once:")
        click.echo(key)
    store.close()
    run_server(settings)


@main.command()
@click.argument("file", type=click.File("r"), default="-")
@click.pass_context
def score(ctx: click.Context, file: Any) -> None:
    """Screen one order (a JSON file, or standard input) in-process and print the answer."""
    from fraudscreen.screening import Screener

    settings = _settings(ctx)
    _store(settings).close()
    try:
        body = json.load(file)
        screened = Screener.from_settings(settings).screen(body)
    except json.JSONDecodeError:
        raise click.ClickException("the input is not valid JSON") from None
    except FraudscreenError as exc:
        details = "; ".join(f"{d.pointer}: {d.message}" for d in exc.details)
        raise click.ClickException(f"{exc.code}: {exc.message} {details}".strip()) from None
    click.echo(json.dumps(screened.response, indent=2))


@main.group()
def apikeys() -> None:
    """Create, list and revoke API keys."""


@apikeys.command("create")
@click.option("--name", required=True, help="Who uses the key, e.g. checkout.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["score", "outcomes", "admin"]),
              help="Repeat for several scopes (default: score and outcomes).")
@click.pass_context
def apikeys_create(ctx: click.Context, name: str, scopes: tuple[str, ...]) -> None:
    """Create a key; the key itself is printed alone on the last line, once."""
    record, key = _store(_settings(ctx)).create_api_key(name, scopes or DEFAULT_SCOPES)
    click.echo(f"Created API key {record.id} '{name}' with scopes {', '.join(record.scopes)}.", err=True)
    click.echo(key)


@apikeys.command("list")
@click.pass_context
def apikeys_list(ctx: click.Context) -> None:
    """List keys (never the keys themselves)."""
    for k in _store(_settings(ctx)).list_api_keys():
        state = "revoked" if k.revoked_at else "active"
        click.echo(f"{k.id}\t{k.prefix}…\t{k.name}\t{','.join(k.scopes)}\t{state}")


@apikeys.command("revoke")
@click.argument("key_id")
@click.pass_context
def apikeys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke a key by its id."""
    try:
        _store(_settings(ctx)).revoke_api_key(key_id)
    except FraudscreenError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Revoked {key_id}.")


@main.group()
def lists() -> None:
    """Manage the allow, block and review lists."""


@lists.command("add")
@click.argument("list_name", type=click.Choice(["allow", "block", "review"]))
@click.argument("kind")
@click.argument("value")
@click.option("--note", default="", help="Why the entry is there.")
@click.pass_context
def lists_add(ctx: click.Context, list_name: str, kind: str, value: str, note: str) -> None:
    """Add VALUE of KIND (ip, email_domain, email_hash, bin, country, device_id, account_id)."""
    from fraudscreen.rules import LIST_KINDS, normalise_list_value

    if kind not in LIST_KINDS:
        raise click.BadParameter(f"must be one of {', '.join(LIST_KINDS)}", param_hint="KIND")
    try:
        normalised = normalise_list_value(kind, value)
    except FraudscreenError as exc:
        raise click.BadParameter(exc.details[0].message if exc.details else exc.message,
                                 param_hint="VALUE") from None
    _store(_settings(ctx)).add_list_entry(list_name, kind, normalised, note, actor="cli")
    click.echo(f"Added {kind} {normalised} to {list_name}.")


@lists.command("remove")
@click.argument("list_name", type=click.Choice(["allow", "block", "review"]))
@click.argument("kind")
@click.argument("value")
@click.pass_context
def lists_remove(ctx: click.Context, list_name: str, kind: str, value: str) -> None:
    """Remove an entry."""
    from fraudscreen.rules import normalise_list_value

    removed = _store(_settings(ctx)).remove_list_entry(
        list_name, kind, normalise_list_value(kind, value), actor="cli"
    )
    if not removed:
        raise click.ClickException("no such entry")
    click.echo("Removed.")


@lists.command("show")
@click.argument("list_name", required=False)
@click.pass_context
def lists_show(ctx: click.Context, list_name: str | None) -> None:
    """Print the entries of one list or of all."""
    for r in _store(_settings(ctx)).list_entries(list_name):
        click.echo(f"{r.list_name}\t{r.kind}\t{r.value}\t{r.note}")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the migrations (serve does this too)."""
    _store(_settings(ctx)).close()
    click.echo("Database is at the latest revision.")


def _register_subcommands() -> None:
    from fraudscreen.privacy.commands import COMMANDS as privacy_commands
    from fraudscreen.training.commands import COMMANDS as training_commands

    for command in (*training_commands, *privacy_commands):
        main.add_command(command)


_register_subcommands()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
