"""The ``fraudscreen`` command line: serve, score, keys, lists, database, simulate, train."""

from __future__ import annotations

import json
import os
import signal
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fraudscreen import jsontext
from fraudscreen.config import LIMITS, Settings, load_settings, unknown_variables
from fraudscreen.errors import ConfigError, FraudscreenError
from fraudscreen.privacy.commands import CLI_ACTOR

if TYPE_CHECKING:
    from fraudscreen.installation import InstallationSecrets
    from fraudscreen.rules.lists import ListEntry

DEFAULT_SCOPES = ("score", "outcomes")
LIST_NAMES = ("allow", "block", "review")
MAX_KEY_NAME = 200
"""Longest API key name (the store's column)."""


def error_message(exc: FraudscreenError) -> str:
    """One line for the terminal: the message and, for a request error, the fields at fault."""
    details = "; ".join(f"{d.pointer}: {d.message}" for d in exc.details)
    return f"{exc.message} ({details})" if details else exc.message


INTERRUPTED = 128 + signal.SIGINT
"""The exit status after Ctrl-C, as shells give it (click's own was 1, a failure's)."""


class _Group(click.Group):
    """A group whose commands end with ``Error: ...`` (exit 1) on any FraudscreenError, and with
    ``Aborted!`` (exit 130) on Ctrl-C."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FraudscreenError as exc:
            raise click.ClickException(error_message(exc)) from None
        except KeyboardInterrupt:
            click.echo("\nAborted!", err=True)
            raise click.exceptions.Exit(INTERRUPTED) from None


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj  # type: ignore[no-any-return]


def cli_store(settings: Settings, *, must_exist: bool = False, behind: bool = False) -> Any:
    """The migrated store; ClickException when the database cannot be opened or created.

    With ``must_exist`` (every command but ``serve`` and ``db upgrade``), a missing SQLite database, or a
    database without the fraudscreen schema (an empty file, another application's database),
    is an error and nothing is created or written: a mistyped ``--data-dir`` or URL must not
    look like an empty database. Nor is it migrated: a database at an older migration is an
    error (``db upgrade`` or ``serve`` moves it on; a command run after ``db downgrade`` must
    not undo it), unless ``behind`` (``db downgrade`` itself).
    """
    from fraudscreen.store import (
        Store,
        database_exists,
        database_location,
        latest_revision,
        open_store,
        schema_revision,
        sqlite_file,
    )

    url = settings.resolved_database_url
    try:
        if url.startswith("sqlite") and sqlite_file(url) is None:
            raise click.ClickException(
                "the database URL (FRAUDSCREEN_DATABASE_URL) names an in-memory SQLite database, "
                "gone when the command ends and apart in each worker; name a file "
                "(sqlite:////path/fraudscreen.db) or a PostgreSQL server")
        if not must_exist:
            return open_store(settings)
        if not database_exists(url):
            raise click.ClickException(_no_database(settings, f"no database at {sqlite_file(url)}"))
        revision = schema_revision(url)
        if revision is None:
            raise click.ClickException(_no_database(
                settings, f"the database at {database_location(url)} has no fraudscreen tables"))
        latest = latest_revision()
        if revision != latest and not behind:
            raise click.ClickException(
                f"the database at {database_location(url)} is at migration {revision}, before this "
                f"release's {latest}: run `fraudscreen db upgrade` (or `serve`) first")
        return Store(url)  # the database is there: no data directory to create
    except FraudscreenError as exc:
        raise click.ClickException(error_message(exc)) from None
    except OSError as exc:
        raise click.ClickException(_os_problem(exc, "cannot create the data directory or database")) from None


def readable_text(value: str, *, longest: int | None = None) -> str:
    """An argument stripped; :class:`click.BadParameter` when it is not UTF-8 (bytes the shell
    passed undecoded), holds a control character, is blank, or is longer than ``longest``:
    none names anything stored."""
    from fraudscreen.schema import CONTROL_CHARACTER

    if jsontext.holds_lone_surrogate(value):
        raise click.BadParameter("must be UTF-8 text.")
    if CONTROL_CHARACTER.search(value):
        raise click.BadParameter("must not contain control characters.")
    if not value.strip():
        raise click.BadParameter("must not be empty.")
    if longest is not None and len(value.strip()) > longest:
        raise click.BadParameter(f"must be at most {longest} characters.")
    return value.strip()


def _no_database(settings: Settings, problem: str) -> str:
    """One line: which database is missing or not ours, where the data directory is, what to do."""
    return (f"{problem} (data directory {settings.data_dir.resolve()}); point at the "
            "right one with --data-dir DIR before the command, or FRAUDSCREEN_DATA_DIR or "
            "FRAUDSCREEN_DATABASE_URL; `fraudscreen serve` or `fraudscreen db upgrade` creates a database")


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    """SIGTERM (``kill``, ``timeout``) ends a command as Ctrl-C does, through its clean-ups: a
    half-written output and a replay's temporary folder are removed, not left behind."""
    raise SystemExit(128 + signum)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data directory (default ./var, or FRAUDSCREEN_DATA_DIR).")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Order fraud screening: GeoIP, account profiles, a model and rules."""
    if sys.stdin is None:  # ``<&-``: read as empty (score: not JSON; erase: not confirmed)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - for the life of the process
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # gunicorn sets its own for serve
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))  # for the command only
    # the database, logs, exports and training files hold IPs and ids: readable by this user only
    previous_umask = os.umask(0o077)
    ctx.call_on_close(lambda: os.umask(previous_umask))
    for line in unknown_variables():
        click.echo(f"Warning: {line}", err=True)
    try:
        ctx.obj = load_settings(data_dir=data_dir)
    except FraudscreenError as exc:
        raise click.ClickException(error_message(exc)) from None
    if ctx.obj.data_dir.exists() and not ctx.obj.data_dir.is_dir():  # e.g. FRAUDSCREEN_DATA_DIR
        raise click.ClickException(f"the data directory {ctx.obj.data_dir} is a file")


@main.command()
@click.option("--host", default=None, help="IP address or host name to bind, no port (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8000).")
@click.option("--workers", type=click.IntRange(1, int(LIMITS["workers"][1])), default=None,
              help="Worker processes (default 2).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Migrate the database and run the API under gunicorn."""
    from fraudscreen.installation import key_check
    from fraudscreen.server import check_can_listen, run_server

    try:
        settings = _settings(ctx).with_overrides(
            **{k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
        )
        check_can_listen(settings)  # before an API key is made and shown for a server that fails
    except ConfigError as exc:
        raise click.ClickException(exc.message) from None
    store = cli_store(settings)
    installation = _prepare_files(settings)
    try:
        store.claim_email_key(key_check(installation))
    except ConfigError as exc:
        store.close()
        raise click.ClickException(exc.message) from None
    if not any(k.revoked_at is None for k in store.list_api_keys()):  # none could be used
        try:
            _create_shown_key(store, "checkout", DEFAULT_SCOPES, "Created the first API key "
                              "(scopes: score, outcomes). It is shown only once:")
        except click.ClickException:
            store.close()
            raise
    store.close()
    try:
        run_server(settings)
    except OSError as exc:  # e.g. the metrics folder cannot be made
        raise click.ClickException(_os_problem(exc)) from None


def _os_problem(exc: OSError, what: str = "cannot write") -> str:
    """One line for an OSError: what failed, on which file, and the system's reason."""
    where = f" {exc.filename}" if exc.filename else ""
    return f"{what}{where} ({exc.strerror or type(exc).__name__})"


def _prepare_files(settings: Settings) -> InstallationSecrets:
    """Create what the workers write (secrets, log folder) before any worker exists, so that a
    folder that cannot be written is one ``Error:`` line here, not a crash in every worker."""
    from fraudscreen.installation import load_or_create_secrets

    try:
        installation = load_or_create_secrets(settings.data_dir)
        if settings.log_to_file:
            log_dir = settings.resolved_log_dir
            log_dir.mkdir(parents=True, exist_ok=True)
            probe = log_dir / ".write-test"
            probe.touch()
            probe.unlink()
    except OSError as exc:
        raise click.ClickException(_os_problem(exc)) from None
    return installation


@main.command()
@click.argument("file", type=click.File("rb"), default="-")
@click.pass_context
def score(ctx: click.Context, file: Any) -> None:
    """Screen one order (a JSON file, or standard input) in-process, store it as the API
    does, and print the answer.

    The body limit is the API's (``FRAUDSCREEN_MAX_BODY_BYTES``)."""
    from fraudscreen.screening import Screener

    settings = _settings(ctx)
    limit = settings.max_body_bytes
    raw = file.read(limit + 1)
    if len(raw) > limit:
        raise click.ClickException(f"the input is larger than {limit} bytes "
                                   "(FRAUDSCREEN_MAX_BODY_BYTES), as the API refuses it")
    try:
        body = jsontext.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise click.ClickException("the input is not UTF-8 text") from None
    except RecursionError:
        raise click.ClickException("the input is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN, a repeated key (as the API)
        refused = jsontext.refused_pointers(raw) if isinstance(
            exc, (jsontext.NotAJsonNumber, jsontext.RepeatedKey)) else []
        where = " " + "; ".join(f"at {pointer}: {why}" for pointer, why in refused) if refused else ""
        raise click.ClickException(f"the input is not valid JSON{where}") from None
    cli_store(settings, must_exist=True).close()
    try:
        screened = Screener.from_settings(settings).screen(body)
    except FraudscreenError as exc:
        raise click.ClickException(f"{exc.code}: {error_message(exc)}") from None
    except OSError as exc:  # the data directory's secrets or logs cannot be written
        raise click.ClickException(_os_problem(exc)) from None
    click.echo(json.dumps(screened.response, indent=2))


@main.group()
def apikeys() -> None:
    """Create, list and revoke API keys."""


def _key_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A key name shows in logs and the tab-separated `apikeys list`: one short printable line."""
    name = value.strip()
    if not name:
        raise click.BadParameter("must not be empty.")
    if len(name) > MAX_KEY_NAME:
        raise click.BadParameter(f"must be at most {MAX_KEY_NAME} characters.")
    if any(unicodedata.category(c)[0] in "CZ" and c != " " for c in name):
        raise click.BadParameter("must hold no tabs, line breaks or other control characters.")
    _refuse_personal_text(name)
    return name


def _refuse_personal_text(text: str) -> None:
    """:class:`click.BadParameter` when ``text`` (a name or an id kept and shown as it is) holds
    a full card number, an e-mail address, or a secret the logs mask (an API key, a password):
    none is ever stored raw."""
    from fraudscreen.enrich.card import find_card_numbers
    from fraudscreen.enrich.email import EMAIL_IN_TEXT
    from fraudscreen.logs import mask

    if find_card_numbers(text):
        raise click.BadParameter("looks like a full card number, which is never stored.")
    if EMAIL_IN_TEXT.search(text):
        raise click.BadParameter("must not hold an e-mail address, which is never stored raw.")
    if mask(text) != text:
        raise click.BadParameter("looks like it holds a secret (an API key, a password, a token), "
                                 "which is never stored.")


@apikeys.command("create")
@click.option("--name", required=True, callback=_key_name, help="Who uses the key, e.g. checkout.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["score", "outcomes", "admin"]),
              help="Repeat for several scopes (default: score and outcomes).")
@click.pass_context
def apikeys_create(ctx: click.Context, name: str, scopes: tuple[str, ...]) -> None:
    """Create a key; the key itself is printed alone on the last line, once."""
    store = cli_store(_settings(ctx), must_exist=True)
    record = _create_shown_key(store, name, scopes or DEFAULT_SCOPES)
    click.echo(f"Created API key {record.id} '{name}' with scopes {', '.join(record.scopes)}.", err=True)


def _create_shown_key(store: Any, name: str, scopes: Sequence[str], heading: str | None = None) -> Any:
    """Create a key and print it (after ``heading``) on standard output; its record. A key
    nobody could see is not left valid: refused when standard output is closed (``>&-``),
    revoked at once when it cannot be written (a full disk, a closed pipe)."""
    if sys.stdout is None or sys.stdout.closed:
        raise click.ClickException("standard output is closed: the key could not be shown; "
                                   "nothing was created")
    record, key = store.create_api_key(name, scopes, actor=CLI_ACTOR)
    try:
        if heading:
            click.echo(heading)
        click.echo(key)
    except OSError as exc:
        store.revoke_api_key(record.id, actor=CLI_ACTOR)
        raise click.ClickException(
            f"cannot write the key to standard output ({exc.strerror or type(exc).__name__}); "
            f"key {record.id} was revoked at once") from None
    return record


@apikeys.command("list")
@click.pass_context
def apikeys_list(ctx: click.Context) -> None:
    """List keys (never the keys themselves)."""
    for k in cli_store(_settings(ctx), must_exist=True).list_api_keys():
        state = "revoked" if k.revoked_at else "active"
        click.echo(f"{k.id}\t{k.prefix}…\t{k.name}\t{','.join(k.scopes)}\t{state}")


@apikeys.command("revoke")
@click.argument("key_id", callback=lambda _ctx, _param, value: readable_text(value))
@click.pass_context
def apikeys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke a key by its id."""
    cli_store(_settings(ctx), must_exist=True).revoke_api_key(key_id, actor=CLI_ACTOR)  # unknown: Error:
    click.echo(f"Revoked {key_id}.")


@main.group()
def lists() -> None:
    """Manage the allow, block and review lists."""


_LIST_PARAMS = {"/list_name": "LIST_NAME", "/kind": "KIND", "/value": "VALUE", "/note": "'--note'"}
"""Which argument or option a list entry error pointer names."""


def _list_entry(list_name: str, kind: str, value: str, note: str | None = None) -> ListEntry:
    """The validated entry (``note`` None: an entry to remove); a usage error (exit 2) naming
    the argument or option at fault, without repeating it (it may hold a card number)."""
    from fraudscreen.errors import CardNumberRefusedError
    from fraudscreen.rules.lists import entry_to_remove, make_list_entry

    try:
        if note is None:
            return entry_to_remove(list_name, kind, value)
        return make_list_entry(list_name, kind, value, note)
    except CardNumberRefusedError as exc:
        where = " and ".join(_LIST_PARAMS.get(d.pointer, d.pointer).strip("'") for d in exc.details)
        raise click.UsageError(
            f"{where} looks like a full card number; list entries never hold card data "
            "(a bin entry takes the first 6 or 8 digits). Nothing was stored."
        ) from None
    except FraudscreenError as exc:
        detail = exc.details[0] if exc.details else None
        hint = _LIST_PARAMS.get(detail.pointer) if detail else None
        message = detail.message if detail else exc.message
        raise click.BadParameter(message, param_hint=hint) from None


@lists.command("add")
@click.argument("list_name", type=click.Choice(LIST_NAMES))
@click.argument("kind")
@click.argument("value")
@click.option("--note", default=None,
              help="Why the entry is there (no personal or card data); an entry already on the "
                   "list keeps its note unless this is given.")
@click.pass_context
def lists_add(ctx: click.Context, list_name: str, kind: str, value: str, note: str | None) -> None:
    """Add VALUE of KIND (ip, email_domain, email_hash, bin, country, device_id, account_id).

    An email_hash is this installation's keyed hash (64 hex digits, as `fraudscreen export`
    shows it), never a raw email; full card numbers are refused in VALUE and --note.
    """
    entry = _list_entry(list_name, kind, value, note or "")
    store = cli_store(_settings(ctx), must_exist=True)
    _row, added = store.add_list_entry(
        list_name, kind, entry.value, None if note is None else entry.note, actor=CLI_ACTOR)
    if added:
        click.echo(f"Added {kind} {entry.value} to {list_name}.")
    else:
        click.echo(f"{kind} {entry.value} was on {list_name} already; its note "
                   f"{'is kept' if note is None else 'is replaced'}.")
    also = [r.list_name for r in store.list_entries()
            if r.list_name != list_name and (r.kind, r.value) == (kind, entry.value)]
    if also:  # the rules' order decides (allow > reject > review): say so, it may surprise
        click.echo(f"Note: {kind} {entry.value} is on {' and '.join(also)} too; an order it "
                   "matches is allowed if it is on allow, else rejected if on block (the shipped "
                   "rules).", err=True)


@lists.command("remove")
@click.argument("list_name", type=click.Choice(LIST_NAMES))
@click.argument("kind")
@click.argument("value")
@click.pass_context
def lists_remove(ctx: click.Context, list_name: str, kind: str, value: str) -> None:
    """Remove an entry."""
    entry = _list_entry(list_name, kind, value)
    if not cli_store(_settings(ctx), must_exist=True).remove_list_entry(
        list_name, kind, entry.value, actor=CLI_ACTOR
    ):
        raise click.ClickException("no such entry")
    click.echo("Removed.")


@lists.command("show")
@click.argument("list_name", required=False, type=click.Choice(LIST_NAMES))
@click.pass_context
def lists_show(ctx: click.Context, list_name: str | None) -> None:
    """Print the entries of one list or of all."""
    for r in cli_store(_settings(ctx), must_exist=True).list_entries(list_name):
        click.echo(f"{r.list_name}\t{r.kind}\t{r.value}\t{r.note}")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the migrations (serve does this too)."""
    cli_store(_settings(ctx)).close()
    click.echo("Database is at the latest revision.")


def _downgrade_target(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from fraudscreen.store import downgrade_targets, latest_revision

    targets = downgrade_targets()
    if value.strip() not in targets:
        raise click.BadParameter(
            f"must be one of {', '.join(targets)} (the migrations before this release's "
            f"{latest_revision()}); `base` would drop every table: to remove the database, "
            "delete it")
    return value.strip()


@db.command("downgrade")
@click.argument("revision", callback=_downgrade_target)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str, yes: bool) -> None:
    """Move the schema back to REVISION (e.g. 0002) before running an older release.

    Run it with this release, the one whose migrations are to be undone; what a later
    migration added (columns and their values) is dropped."""
    store = cli_store(_settings(ctx), must_exist=True, behind=True)
    try:
        if not yes:
            click.confirm(f"Move the database back to migration {revision}? What later "
                          "migrations added (columns and their values) is dropped.", abort=True)
        store.downgrade(revision)
    except FraudscreenError as exc:
        raise click.ClickException(error_message(exc)) from None
    finally:
        store.close()
    click.echo(f"Database is at revision {revision}.")


def _register_subcommands() -> None:
    from fraudscreen.privacy.commands import COMMANDS as privacy_commands
    from fraudscreen.training.commands import COMMANDS as training_commands

    for command in (*training_commands, *privacy_commands):
        main.add_command(command)


_register_subcommands()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
