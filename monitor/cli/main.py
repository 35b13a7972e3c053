"""The ``critmon`` command line."""

from __future__ import annotations

import logging
import shutil
import socket
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from monitor import __version__
from monitor.alerting.store import AlertStore
from monitor.cli import web as web_cli
from monitor.cli.alerts import ALERT_COMMANDS
from monitor.cli.data import data as data_command
from monitor.cli.formatting import FORMATS, render, safe_text, to_json
from monitor.cli.news import news as news_command
from monitor.cli.progress import progress
from monitor.config.load import (
    CONFIG_FILES,
    Config,
    default_config_dir,
    load_config,
    resolve_config_dir,
)
from monitor.config.sources import check_store_url
from monitor.core.clock import SystemClock
from monitor.core.errors import ConfigError, MonitorError, StoreError
from monitor.ops.daemon import Daemon
from monitor.ops.health import (
    check_health,
    lease_check,
    load_running_jobs,
    source_health_rows,
)
from monitor.ops.jobs import Runtime, poll_all, prepare, run_once
from monitor.sources.http import HttpFetcher
from monitor.store.database import DB_NAME, Store, state_dir_path
from monitor.store.lease import lease_info

EX_CONFIG = 78  # sysexits: configuration error; systemd RestartPreventExitStatus=78
EX_CANTCREAT = 73

as_of_option = click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]),
                             help="Use only the data that was public on this date.")
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                             show_default=True, help="Output format.")
perspective_option = click.option(
    "--perspective", metavar="ID",
    help="Only this perspective (the economy scored: us, cn, eu or one of your own, as listed "
         "in rules.yaml) [default: every perspective rules.yaml lists].")


def check_perspective(config: Config, perspective: str | None) -> str | None:
    """``--perspective`` checked against the perspectives rules.yaml lists."""
    if perspective is not None and perspective not in config.perspective_ids:
        raise click.BadParameter(
            f"{perspective!r} is not monitored; rules.yaml lists "
            f"{', '.join(config.perspective_ids)}", param_hint="--perspective")
    return perspective


class Context:
    """Options shared by every command (given before or after the subcommand's name)."""

    def __init__(self, config_dir: str | None, state_dir: str | None,
                 store: str | None = None) -> None:
        self.config_dir_option = config_dir
        self.state_dir = state_dir_path(state_dir)
        self.store_option = store or None

    def override(self, name: str, value: str) -> None:
        """Apply a global option given after the subcommand: it wins over one given before."""
        if name == "config":
            self.config_dir_option = value
        elif name == "state_dir":
            self.state_dir = state_dir_path(value)
        elif name == "store":
            self.store_option = value or None
        else:
            logging.getLogger().setLevel(value.upper())

    @property
    def config_dir(self) -> Path:
        return resolve_config_dir(self.config_dir_option)

    def load_config(self) -> Config:
        try:
            return load_config(self.config_dir)
        except ConfigError as exc:
            click.echo(safe_text(f"critmon: config error: {exc}"), err=True)
            sys.exit(EX_CONFIG)

    @property
    def store_url(self) -> str | None:
        """``--store`` / ``CRITMON_STORE``, else sources.yaml's ``store:`` (None: SQLite)."""
        if self.store_option:
            return self.store_option
        try:
            return load_config(self.config_dir).sources.store
        except ConfigError:
            return None  # the command that needs the config reports the error itself

    def runtime(self) -> Runtime:
        config = self.load_config()
        try:
            return prepare(config, self.config_dir, self.state_dir, SystemClock().now(),
                           store_url=self.store_option)
        except StoreError as exc:
            click.echo(safe_text(f"critmon: {exc}"), err=True)
            sys.exit(EX_CANTCREAT)

    def has_store(self) -> bool:
        """A PostgreSQL store is configured, or the SQLite file exists."""
        return bool(self.store_url) or (self.state_dir / DB_NAME).exists()

    def open_store(self) -> Store:
        url = self.store_url
        if url:
            try:
                return Store.open(url)
            except StoreError as exc:
                click.echo(safe_text(f"critmon: {exc}"), err=True)
                sys.exit(EX_CANTCREAT)
        path = self.state_dir / DB_NAME
        if not path.exists():
            raise click.ClickException(
                f"no database at {path}: run `critmon once` or `critmon run` first")
        try:
            return Store.open(path)
        except StoreError as exc:  # a shared state dir, a file we cannot make private
            click.echo(safe_text(f"critmon: {exc}"), err=True)
            sys.exit(EX_CANTCREAT)


LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


def _global_options_again() -> list[click.Option]:
    """``--config``, ``--state-dir`` and ``--log-level`` for a subcommand, so that
    ``critmon config check --config DIR`` works as well as ``critmon --config DIR config check``.

    They carry no default and no env var (the group reads those); a value given here overrides
    the group's in the shared :class:`Context` before the command runs.
    """
    def override(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        obj = ctx.find_object(Context)
        if value is not None and obj is not None and not ctx.resilient_parsing:
            obj.override(str(param.name).removeprefix("global_"), value)

    return [
        click.Option(["--config", "global_config"], metavar="DIR", expose_value=False,
                     callback=override, help="Config directory (as critmon --config)."),
        click.Option(["--state-dir", "global_state_dir"], metavar="DIR", expose_value=False,
                     callback=override, help="State directory (as critmon --state-dir)."),
        click.Option(["--store", "global_store"], metavar="URL", expose_value=False,
                     callback=override, help="PostgreSQL store (as critmon --store)."),
        click.Option(["--log-level", "global_log_level"], type=LOG_LEVELS, expose_value=False,
                     callback=override, help="Log level (as critmon --log-level)."),
    ]


def accept_global_options_everywhere(group: click.Group) -> None:
    """Give every subcommand of ``group``, at any depth, the global options it lacks."""
    for command in group.commands.values():
        taken = {opt for param in command.params for opt in param.opts}
        command.params.extend(option for option in _global_options_again()
                              if not taken.intersection(option.opts))
        if isinstance(command, click.Group):
            accept_global_options_everywhere(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="critmon")
@click.option("--config", "config_dir", envvar="CRITMON_CONFIG", metavar="DIR",
              help="Config directory [env CRITMON_CONFIG; default ~/.config/critmon, "
                   "else the shipped defaults]. Also accepted after the command.")
@click.option("--state-dir", envvar="CRITMON_STATE_DIR", metavar="DIR",
              help="State directory [env CRITMON_STATE_DIR, systemd STATE_DIRECTORY; default "
                   "~/.local/state/critmon]. Also accepted after the command.")
@click.option("--store", envvar="CRITMON_STORE", metavar="URL",
              help="Keep every table on PostgreSQL: postgresql://USER@HOST:PORT/DB [env "
                   "CRITMON_STORE, else sources.yaml store:; default the SQLite file in the "
                   "state directory]. The password comes from PGPASSWORD or a password file "
                   "(PGPASSFILE, ~/.pgpass), never from the URL.")
@click.option("--log-level", default="INFO", show_default=True, type=LOG_LEVELS)
@click.pass_context
def cli(ctx: click.Context, config_dir: str | None, state_dir: str | None, store: str | None,
        log_level: str) -> None:
    """critmon: early warning for critical-mineral supply risk."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if store:
        try:
            check_store_url(store)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--store / CRITMON_STORE") from None
    ctx.obj = Context(config_dir, state_dir, store)


@cli.command()
@click.option("--metrics", "metrics_address", envvar="CRITMON_METRICS", metavar="[HOST:]PORT",
              help="Serve /metrics and /healthz here (a bare port binds to 127.0.0.1).")
@click.option("--web", "web_address", envvar="CRITMON_WEB", metavar="[HOST:]PORT",
              help="Serve the web console here too (a bare port binds to 127.0.0.1; see "
                   "`critmon web` for the login options).")
@web_cli.users_option
@web_cli.proxy_option
@web_cli.trusted_option
@click.pass_obj
def run(obj: Context, metrics_address: str | None, web_address: str | None,
        users_file: Path | None, proxy_user_header: str,
        trusted_proxies: tuple[str, ...]) -> None:
    """Run the daemon in the foreground until SIGINT/SIGTERM (SIGHUP reloads the config)."""
    runtime = obj.runtime()
    daemon = Daemon(runtime)
    server = None
    if metrics_address:
        from monitor.ops.metrics import start_metrics_server  # prometheus_client: only when used

        server = start_metrics_server(runtime.store_target, metrics_address,
                                      role=lambda: daemon.role)
    stop_web = web_cli.start_beside_daemon(
        web_address, obj.config_dir, obj.state_dir,
        web_cli.auth_options(users_file, proxy_user_header, trusted_proxies),
        runtime.store_url) if web_address else None
    try:
        code = daemon.run()
    finally:
        if stop_web is not None:
            stop_web()
        if server is not None:
            server.shutdown()
            server.server_close()
    sys.exit(code)


@cli.command()
@click.pass_obj
def once(obj: Context) -> None:
    """Run one full cycle: poll every source once, evaluate, exit.

    Exits non-zero only when critmon itself cannot run (bad config, unusable state dir); a
    failing source is reported, not fatal. On a PostgreSQL store that a daemon leads (its
    leader lease is live) it refuses: the cycle would duplicate the leader's work.
    """
    runtime = obj.runtime()
    if runtime.store_url:
        with runtime.open_store() as store:
            lease = lease_info(store.db)
        if lease is not None and not lease.expired:
            click.echo(f"critmon: {lease.holder} leads this database (leader lease, token "
                       f"{lease.token}); it polls, evaluates and delivers: not running a "
                       "cycle beside it", err=True)
            sys.exit(1)
    with HttpFetcher() as fetcher, progress("critmon once") as bar:
        outcomes, report = run_once(runtime, fetcher, SystemClock(), progress=bar)
    ok = sum(1 for o in outcomes if o.ok)
    for outcome in outcomes:
        if not outcome.ok:
            click.echo(safe_text(f"source {outcome.source} failing: {outcome.error}"), err=True)
    with runtime.open_store() as store:
        total = sum(store.count_observations().values())
    click.echo(f"polled {len(outcomes)} sources: {ok} ok, {len(outcomes) - ok} failing; "
               f"{total} observations in {runtime.describe_store()}")
    click.echo(f"notifications: {report}")


@cli.command()
@format_option
@as_of_option
@perspective_option
@click.pass_obj
def status(obj: Context, fmt: str, as_of: Any, perspective: str | None) -> None:
    """Every mineral's indicators, supply-risk score and firing signals, riskiest first
    (per perspective when rules.yaml lists several)."""
    from monitor.risk.assess import assess_and_detect  # NumPy, scikit-learn: only where used
    from monitor.risk.status import status_columns, status_rows

    config = obj.load_config()
    chosen = check_perspective(config, perspective)
    with obj.open_store() as store:
        assessments, signals = assess_and_detect(store, config, as_of=_date(as_of),
                                                 now=SystemClock().now(), perspective=chosen)
    click.echo(render(status_rows(assessments, signals), status_columns(assessments, fmt),
                       fmt))


@cli.command()
@click.argument("mineral")
@format_option
@as_of_option
@perspective_option
@click.pass_obj
def explain(obj: Context, mineral: str, fmt: str, as_of: Any, perspective: str | None) -> None:
    """Break one mineral's score down: factors, weights, contributions, inputs, what is missing
    (for each perspective rules.yaml lists, or only --perspective)."""
    from monitor.risk.assess import assess_and_detect

    config = obj.load_config()
    if mineral not in config.mineral_ids:
        raise click.BadParameter(f"unknown mineral {mineral!r}", param_hint="MINERAL")
    chosen = check_perspective(config, perspective)
    with obj.open_store() as store:
        assessments, signals = assess_and_detect(store, config, as_of=_date(as_of),
                                                 now=SystemClock().now(), perspective=chosen)
    found = [a for a in assessments if a.mineral == mineral]
    if fmt == "json":
        docs = [_explain_doc(a, signals) for a in found]
        click.echo(to_json(docs[0] if len(docs) == 1 else docs))
        return
    for index, assessment in enumerate(found):
        if index:
            click.echo("")
        _explain_one(assessment, signals, fmt, several=len(found) > 1)


def _perspective_of(signal: Any) -> str:
    return dict(signal.labels).get("perspective", "us")


def _explain_doc(found: Any, signals: Any) -> dict[str, Any]:
    """``explain --format json``: one mineral under one perspective."""
    from monitor.risk.assess import signal_row
    from monitor.risk.status import describe_exposure, explain_rows

    factors, indicators = explain_rows(found)
    risk = found.risk
    mine = [s for s in signals
            if s.mineral == found.mineral and _perspective_of(s) == found.perspective]
    return {
        "mineral": found.mineral, "perspective": found.perspective,
        "as_of": risk.as_of.isoformat(), "score": risk.score,
        "score_range": [risk.score_low, risk.score_high], "level": risk.level,
        "confidence": risk.confidence, "method": risk.method,
        "exposure": describe_exposure(found), "factors": factors,
        "indicators": indicators, "missing": list(risk.missing),
        "signals": [signal_row(s) for s in mine],
    }


def _explain_one(found: Any, signals: Any, fmt: str, *, several: bool) -> None:
    from monitor.risk.status import describe_exposure, explain_rows

    factors, indicators = explain_rows(found)
    mine = [s for s in signals
            if s.mineral == found.mineral and _perspective_of(s) == found.perspective]
    if fmt == "csv":
        rows = [{"perspective": found.perspective, **row} for row in indicators] if several \
            else indicators
        click.echo(render(rows, list(rows[0]), "csv"))
        return
    if several:
        click.echo(safe_text(f"== perspective {found.perspective} =="))
    click.echo(safe_text(_explain_header(found)))
    if found.perspective != "us":
        click.echo(safe_text(describe_exposure(found) + "\n"))
    click.echo(render(factors, ["factor", "value", "weight", "contribution", "inputs", "note"],
                      "table"))
    click.echo("")
    click.echo(render(indicators, ["indicator", "value", "unit", "qualifier", "source",
                                   "period", "published", "missing"], "table"))
    if found.risk.missing:
        click.echo(safe_text("\nmissing:\n" + "\n".join(f"  - {m}" for m in found.risk.missing)))
    for signal in mine:
        state = f"FIRING {signal.level}" if signal.firing else str(signal.state)
        click.echo(safe_text(f"signal {signal.rule}: {state}: {signal.reason}"))


def _explain_header(a: Any) -> str:
    risk = a.risk
    if risk.score is None:
        head = f"{a.mineral}: supply risk unknown"
    else:
        head = (f"{a.mineral}: supply risk {risk.score:.1f} ({risk.level}), range "
                f"{risk.score_low:.1f}-{risk.score_high:.1f}")
    return (f"{head}; confidence {risk.confidence:.0%}; as of {risk.as_of}; "
            f"method {risk.method}\n")


def _date(as_of: Any) -> date:
    return as_of.date() if as_of else SystemClock().now().date()


# ---------------------------------------------------------------------- sources


@cli.group()
def sources() -> None:
    """Inspect the configured sources."""


@sources.command("check")
@format_option
@click.pass_obj
def sources_check(obj: Context, fmt: str) -> None:
    """Poll each enabled source once now and report status, latency, rows and error."""
    runtime = obj.runtime()
    with (HttpFetcher() as fetcher,
          progress("polling sources", len(runtime.enabled_sources()), fmt=fmt,
                   unit="source") as bar):
        polled = poll_all(runtime, fetcher, SystemClock(), on_done=lambda _: bar.advance())
    outcomes = {o.source: o for o in polled}
    rows = []
    for source in runtime.enabled_sources():
        outcome = outcomes[source.id]
        rows.append({
            "source": source.id, "kind": source.kind,
            "status": "not modified" if outcome.not_modified else ("ok" if outcome.ok
                                                                   else "failing"),
            "latency_s": round(outcome.latency_s, 2), "rows": outcome.rows,
            "changed": outcome.changed,
            "error": outcome.error or outcome.data_problem or "",
        })
    click.echo(render(rows, ["source", "kind", "status", "latency_s", "rows", "changed",
                             "error"], fmt))


@sources.command("list")
@format_option
@click.pass_obj
def sources_list(obj: Context, fmt: str) -> None:
    """List sources with their health as last recorded (does not poll)."""
    config = obj.load_config()
    states = {}
    if obj.has_store():
        with obj.open_store() as store:
            states = {s.source: s for s in store.source_states()}
    rows = source_health_rows(config, states)
    click.echo(render(rows, ["source", "kind", "enabled", "interval", "status",
                             "last_success_at", "failures", "next_poll_at", "last_error"], fmt))


# ---------------------------------------------------------------------- rules


@cli.group()
def rules() -> None:
    """Inspect detector rules."""


@rules.command("show")
@click.option("--mineral", "minerals", multiple=True, help="Only these minerals (repeatable).")
@format_option
@click.pass_obj
def rules_show(obj: Context, minerals: tuple[str, ...], fmt: str) -> None:
    """Print the effective rules per mineral, after per-mineral overrides."""
    from monitor.rules.evaluate import RULE_ROW_COLUMNS, effective_rule_rows

    config = obj.load_config()
    unknown = sorted(set(minerals) - set(config.mineral_ids))
    if unknown:
        raise click.BadParameter(f"unknown mineral(s): {', '.join(unknown)}",
                                 param_hint="--mineral")
    rows = effective_rule_rows(config.rules, list(minerals) or list(config.mineral_ids))
    click.echo(render(rows, list(RULE_ROW_COLUMNS), fmt))


# ---------------------------------------------------------------------- config


@cli.group("config")
def config_group() -> None:
    """Check, write out and review configuration."""


@config_group.command("check")
@click.pass_obj
def config_check(obj: Context) -> None:
    """Validate the config directory; exit 0 if valid, 78 with file/key/line if not."""
    config = obj.load_config()
    for name in CONFIG_FILES:
        click.echo(f"ok  {name:<14} {config.origins[name]}")
    click.echo(f"valid: {len(config.minerals.minerals)} minerals, "
               f"{len(config.sources.sources)} sources, {len(config.rules.rules)} rules, "
               f"{len(config.alerting.receivers)} receivers (digest {config.digest[:12]})")
    for perspective in config.perspectives:
        figures = "USGS net import reliance" if perspective.method == "usgs" else \
            (f"{len(perspective.reliance)} minerals with import reliance, "
             f"{len(perspective.partners)} with partners")
        click.echo(safe_text(f"perspective {perspective.id}: {perspective.name}, {figures} "
                             f"({perspective.origin})"))


@config_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def config_init(directory: Path, force: bool) -> None:
    """Write the shipped default config files into DIRECTORY for editing."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in CONFIG_FILES:
        target = directory / name
        if target.exists() and not force:
            click.echo(f"kept     {target} (exists; --force to overwrite)")
            continue
        shutil.copyfile(default_config_dir() / name, target)
        click.echo(f"written  {target}")


@config_group.command("show")
@click.argument("name", required=False, type=click.Choice(CONFIG_FILES))
@click.pass_obj
def config_show(obj: Context, name: str | None) -> None:
    """Print the effective config files (secrets appear only as references)."""
    config = obj.load_config()
    for file_name in [name] if name else CONFIG_FILES:
        click.echo(f"# {config.origins[file_name]}")
        click.echo(config.texts[file_name].rstrip("\n"))


@config_group.command("history")
@format_option
@click.pass_obj
def config_history(obj: Context, fmt: str) -> None:
    """List every config the daemon has loaded (digest, time, summary, who applied it)."""
    with obj.open_store() as store:
        rows = store.config_versions()
    for row in rows:
        row["digest"] = row["digest"][:12]
    click.echo(render(rows, ["id", "loaded_at", "origin", "author", "digest", "summary"], fmt))


# ---------------------------------------------------------------------- health, db


@cli.command()
@format_option
@click.pass_obj
def health(obj: Context, fmt: str) -> None:
    """Exit 0 when the daemon is healthy, 1 otherwise, with the reason for each check.

    On PostgreSQL it also shows the leader lease: who holds it, its token and expiry, and
    whether this host leads or follows.
    """
    url = obj.store_url
    path = obj.state_dir / DB_NAME
    if not url and not path.exists():
        click.echo(f"unhealthy: no database at {path}", err=True)
        sys.exit(1)
    try:
        store = Store.open(url or path)
    except StoreError as exc:
        click.echo(safe_text(f"unhealthy: {exc}"), err=True)
        sys.exit(1)
    with store:
        checks = check_health(
            now=SystemClock().now(), heartbeat_at=store.get_meta("heartbeat_at"),
            last_cycle_at=store.get_meta("last_cycle_at"), sources=store.source_states(),
            db_error=store.check_writable(),
            stuck_deliveries=AlertStore(store).stuck_deliveries(SystemClock().now()),
            running_jobs=load_running_jobs(store))
        if store.is_postgres:
            checks.insert(0, lease_check(lease_info(store.db), host=socket.gethostname()))
    rows = [{"check": c.name, "status": "ok" if c.ok else "FAIL", "detail": c.detail}
            for c in checks]
    click.echo(render(rows, ["check", "status", "detail"], fmt))
    sys.exit(0 if all(c.ok for c in checks) else 1)


@cli.group()
def db() -> None:
    """Back up and maintain the state database."""


@db.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Replace an existing file that is not an SQLite database (never the live one).")
@click.pass_obj
def db_backup(obj: Context, target: Path, force: bool) -> None:
    """Copy the database to TARGET with SQLite's online backup (safe while the daemon runs).

    TARGET is written 0600 and atomically; a previous backup is replaced.
    """
    with obj.open_store() as store:
        try:
            store.backup(target, force=force)
        except StoreError as exc:  # refused (OutputRefusedError), or the copy failed
            click.echo(safe_text(f"critmon: {exc}"), err=True)
            sys.exit(EX_CANTCREAT)
    click.echo(f"backed up to {target} ({target.stat().st_size:,} bytes)")


@db.command("vacuum")
@click.pass_obj
def db_vacuum(obj: Context) -> None:
    """Checkpoint the WAL and rebuild the database file to reclaim space (PostgreSQL:
    ``VACUUM (ANALYZE)``)."""
    if obj.store_url:
        with obj.open_store() as store:
            store.vacuum()
            click.echo(f"vacuumed {store.describe()}")
        return
    path = obj.state_dir / DB_NAME
    before = path.stat().st_size if path.exists() else 0
    with obj.open_store() as store:
        store.vacuum()
    click.echo(f"vacuumed {path}: {before:,} -> {path.stat().st_size:,} bytes")


for _command in ALERT_COMMANDS:  # alerts, ack, silence, history, notify (monitor/cli_alerts.py)
    cli.add_command(_command)
cli.add_command(news_command)  # news [list], news classify, news eval, news cv (cli_news.py)
cli.add_command(data_command)  # data fetch usgs-mcs (monitor/cli/data.py)
cli.add_command(web_cli.web_command)  # web [HOST:]PORT: the console alone (monitor/cli/web.py)

from monitor.cli.backtest import BACKTEST_COMMANDS, rules_preview

for _command in BACKTEST_COMMANDS:  # backtest, demo, report (monitor/cli_backtest.py)
    cli.add_command(_command)
rules.add_command(rules_preview)  # rules preview DRAFT_DIR (monitor/cli/backtest.py)

accept_global_options_everywhere(cli)  # keep last: after every command has been added


def main() -> None:
    """Entry point of the ``critmon`` console script."""
    try:
        cli.main(prog_name="critmon", standalone_mode=True)
    except MonitorError as exc:  # anything that escaped a command: say it, no traceback
        click.echo(safe_text(f"critmon: {exc}"), err=True)
        sys.exit(1)


