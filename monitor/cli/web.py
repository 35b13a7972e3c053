"""``critmon web [HOST:]PORT`` and the ``--web`` option of ``critmon run`` (registered in
monitor/cli/main.py). The web stack (Starlette, Jinja2, uvicorn) is imported only here, when
the console is asked for, so the daemon without ``--web`` never loads it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from monitor.cli.formatting import safe_text
from monitor.core.errors import ConfigError
from monitor.store.database import DB_NAME

EX_CONFIG = 78

users_option = click.option(
    "--users", "users_file", envvar="CRITMON_WEB_USERS", metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Require HTTP Basic login: lines of user:scrypt-hash (see --hash-password) "
         "[env CRITMON_WEB_USERS].")
proxy_option = click.option(
    "--proxy-user-header", envvar="CRITMON_WEB_PROXY_USER_HEADER", metavar="NAME",
    default="", help="Trust this header (e.g. X-Remote-User) set by an authenticating "
                     "reverse proxy on 127.0.0.1 [env CRITMON_WEB_PROXY_USER_HEADER].")
trusted_option = click.option(
    "--trusted-proxy", "trusted_proxies", multiple=True, metavar="IP",
    help="Address of the reverse proxy whose user header is trusted (repeatable; default "
         "127.0.0.1 and ::1).")


def auth_options(users_file: Path | None, proxy_user_header: str,
                 trusted_proxies: tuple[str, ...]) -> Any:
    from monitor.web.server import AuthOptions

    if users_file is None:
        credentials = Path(__import__("os").environ.get("CREDENTIALS_DIRECTORY", "") or "/-")
        if (credentials / "web-users").is_file():  # systemd LoadCredential=web-users:...
            users_file = credentials / "web-users"
    return AuthOptions(users_file=users_file, proxy_header=proxy_user_header,
                       trusted_proxies=trusted_proxies or ("127.0.0.1", "::1"))


def _fail(exc: Exception) -> None:
    click.echo(safe_text(f"critmon: {exc}"), err=True)
    sys.exit(EX_CONFIG)


def start_beside_daemon(address: str, config_dir: Path, state_dir: Path,
                        auth: Any, store_url: str | None = None) -> Callable[[], None]:
    """Start the console in a thread for ``critmon run --web``; return its stop function."""
    from monitor.web.server import BackgroundConsole, make_server

    try:
        server, url = make_server(address, config_dir, state_dir, auth, store_url)
        console = BackgroundConsole(server, url)
        console.start()
    except ConfigError as exc:
        _fail(exc)
    click.echo(f"web console: {url}", err=True)
    return console.stop


@click.command("web")
@click.argument("address", metavar="[HOST:]PORT", default="127.0.0.1:8765")
@users_option
@proxy_option
@trusted_option
@click.option("--hash-password", "hash_user", metavar="USER",
              help="Ask for a password and print the users-file line for USER, then exit.")
@click.pass_obj
def web_command(obj: Any, address: str, users_file: Path | None, proxy_user_header: str,
                trusted_proxies: tuple[str, ...], hash_user: str | None) -> None:
    """Serve the web console alone over the state database (no polling): alerts, history,
    acknowledge and silence, edit rules with a preview. A bare PORT binds to 127.0.0.1; any
    other address needs --users or --proxy-user-header."""
    if hash_user:
        from monitor.web.security import hash_password

        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
        click.echo(f"{hash_user}:{hash_password(password)}")
        return
    if not obj.store_url and not (obj.state_dir / DB_NAME).exists():
        raise click.ClickException(f"no database at {obj.state_dir / DB_NAME}: run `critmon "
                                   "once` or `critmon run` first")
    runtime = obj.runtime()  # validates the config and migrates the database, as run would
    from monitor.web.server import make_server

    try:
        server, url = make_server(address, obj.config_dir, obj.state_dir,
                                  auth_options(users_file, proxy_user_header, trusted_proxies),
                                  runtime.store_url)
    except ConfigError as exc:
        _fail(exc)
    click.echo(f"web console: {url} (Ctrl-C stops)", err=True)
    server.run()
