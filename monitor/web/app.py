"""The console's Starlette application: pages, actions and the objects they share.

GET pages read the state database (one connection per request, in Starlette's thread pool);
POST actions check the CSRF token and the Origin first, then do their work in the thread pool
too (a preview replays years of data: it never runs on the event loop).
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from monitor.alerting.render import LANGUAGES, Locale
from monitor.alerting.state import DEFAULT_LADDER, level_rank
from monitor.alerting.store import AlertStore
from monitor.config.common import parse_duration
from monitor.config.load import Config, load_config
from monitor.config.matchers import parse_matcher
from monitor.core.clock import Clock, SystemClock
from monitor.core.errors import ConfigError, MonitorError
from monitor.core.tabular import csv_text, to_json
from monitor.core.untrusted import clean_text
from monitor.ops.daemon import config_files_stamp
from monitor.store.database import DB_NAME, Store
from monitor.web import charts, queries, rules_edit
from monitor.web.security import Auth, Csrf, Guard

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_TEXT = 500
PREVIEW_FROM, PREVIEW_TO = date(2010, 1, 1), date(2024, 8, 31)


@dataclass
class Settings:
    """What the console serves and how."""

    config_dir: Path
    state_dir: Path
    auth: Auth = field(default_factory=Auth)
    loopback: bool = True
    clock: Clock = field(default_factory=SystemClock)
    default_author: str = ""
    #: A PostgreSQL store (``--store``); None: the SQLite file in ``state_dir``.
    store_url: str | None = None


class Console:
    """State shared by the requests: the config (reloaded when its files change), the CSRF
    key, the replay data for previews."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.csrf = Csrf()
        self._lock = threading.Lock()
        self._config: Config | None = None
        self._stamp: tuple[Any, ...] = ()
        self.config_error = ""
        self._replay: tuple[str, Any] | None = None
        self._replay_lock = threading.Lock()
        self.preview_lock = threading.Lock()
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                 autoescape=True, undefined=jinja2.StrictUndefined,
                                 trim_blocks=True, lstrip_blocks=True)
        env.filters.update(when=_when, num=_num, pct=_pct, http_url=http_url, day=_day)
        env.globals.update(level_rank=level_rank)
        self.templates = Jinja2Templates(env=env)

    @property
    def db_path(self) -> Path:
        return self.settings.state_dir / DB_NAME

    def config(self) -> Config:
        """The config on disk; the last valid one while the files on disk are invalid."""
        stamp = config_files_stamp(self.settings.config_dir)
        with self._lock:
            if self._config is None or stamp != self._stamp:
                try:
                    self._config = load_config(self.settings.config_dir)
                    self.config_error = ""
                except ConfigError as exc:
                    if self._config is None:
                        raise
                    self.config_error = str(exc)
                self._stamp = stamp
            return self._config

    def store(self) -> Store:
        return Store.open(self.settings.store_url or self.db_path, migrate=False)

    def replay_data(self, config: Config) -> Any:
        """The bundled data a preview replays (loaded once per config)."""
        from monitor.backtest.inputs import bundled_data

        with self._replay_lock:  # not the config's lock: pages go on while this loads
            if self._replay is None or self._replay[0] != config.digest:
                self._replay = (config.digest, bundled_data(config))
            return self._replay[1]

    def locale(self, request: Request) -> Locale:
        """The reader's language (:func:`chosen_language`) with the config's mineral names."""
        return Locale.of(chosen_language(request), self.config().minerals.minerals)

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        user = request.scope.get("state", {}).get("user", "")
        loc = self.locale(request)
        context.update(
            user=user, csrf=self.csrf.token(user), nav=request.url.path,
            config_error=self.config_error, authenticated=bool(user),
            now=self.settings.clock.now(), loc=loc, html_lang=HTML_LANG[loc.language],
            lang_links=_language_links(request),
            author=user or context.get("author") or self.settings.default_author)
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        if request.query_params.get("lang") in LANGUAGES:  # an explicit choice is remembered
            response.set_cookie(LANG_COOKIE, loc.language, max_age=LANG_COOKIE_AGE, path="/",
                                httponly=True, samesite="lax")
        return response


# --------------------------------------------------------------------------- language

LANG_COOKIE = "critmon_lang"
LANG_COOKIE_AGE = 365 * 86400
HTML_LANG = {"en": "en", "zh": "zh-Hans"}
_LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
_ACCEPT_ENTRY = re.compile(r"\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*")


def chosen_language(request: Request) -> str:
    """``?lang=en|zh`` (then remembered in a cookie), else the cookie, else the browser's
    Accept-Language (the first of en and zh with the highest weight), else English."""
    for asked in (request.query_params.get("lang", ""), request.cookies.get(LANG_COOKIE, "")):
        if asked in LANGUAGES:
            return asked
    return preferred_language(request.headers.get("accept-language", ""))


def preferred_language(header: str) -> str:
    """The language of ours an Accept-Language header prefers (``zh-CN,zh;q=0.9`` -> zh)."""
    best, weight = "en", 0.0
    for entry in header[:500].split(",")[:30]:
        found = _ACCEPT_ENTRY.fullmatch(entry)
        if not found or found.group(1).lower() not in LANGUAGES:
            continue
        try:
            q = float(found.group(2)) if found.group(2) else 1.0
        except ValueError:
            continue
        if q > weight:
            best, weight = found.group(1).lower(), q
    return best


def _language_links(request: Request) -> list[tuple[str, str, str]]:
    """(code, label, this page in that language) per language: path and query, no host."""
    links = []
    for code in LANGUAGES:
        url = request.url.include_query_params(lang=code)
        links.append((code, _LANGUAGE_NAMES[code], f"{url.path}?{url.query}"))
    return links


# --------------------------------------------------------------------------- filters


def _when(value: Any) -> str:
    if value in (None, ""):
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return clean_text(value, limit=40)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return str(value)


def _day(value: Any) -> str:
    return "-" if value in (None, "") else str(value)[:10]


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return clean_text(value, limit=40)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.0f}%"


def http_url(value: Any) -> str:
    """``value`` when it is an http(s) URL with a host, else ``""`` (never a link then)."""
    text = str(value or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


# --------------------------------------------------------------------------- pages


def overview_page(console: Console, request: Request) -> Response:
    config = console.config()
    q = request.query_params
    wanted = queries.OverviewFilter(level=q.get("level", ""), list_year=q.get("list", ""),
                                    firing_only=q.get("firing") == "1",
                                    sort=q.get("sort", "score"))
    today = console.settings.clock.now().date()
    perspective = chosen_perspective(config, request)
    with console.store() as store:
        rows = queries.overview(store, config, today, wanted, perspective)
        last_eval = store.get_meta("last_evaluation_at")
    for row in rows:
        row["sparkline"] = charts.sparkline(row["spark"])
    levels = [level.name for level in config.rules.risk.levels]
    lists = sorted({year for m in config.minerals.minerals for year in m.lists})
    return console.page(request, "overview.html", rows=rows, wanted=wanted, levels=levels,
                        lists=lists, sorts=queries.SORTS, last_eval=last_eval,
                        total=len(config.minerals.minerals), perspective=perspective,
                        perspectives=config.perspective_ids)


def chosen_perspective(config: Config, request: Request) -> str:
    """``?perspective=`` when rules.yaml lists it, else the first listed (the default)."""
    asked = request.query_params.get("perspective", "")
    return asked if asked in config.perspective_ids else config.perspective_ids[0]


def mineral_page(console: Console, request: Request) -> Response:
    config = console.config()
    mineral_id = request.path_params["mineral"]
    if mineral_id not in config.mineral_ids:
        raise HTTPException(404, "no such mineral")
    mineral = config.mineral(mineral_id)
    perspective = chosen_perspective(config, request)
    with console.store() as store:
        latest = queries.latest_scores(store, perspective).get(mineral_id, {})
        history = queries.score_histories(store, mineral=mineral_id,
                                          perspective=perspective).get(mineral_id, [])
        indicators = queries.latest_indicators(store, mineral_id)
        episodes = queries.episodes(store, mineral_id)
        prices, unit, price_source = queries.price_series(store, mineral_id)
        news = queries.mineral_news(store, mineral_id)
        firing = queries.firing_by_mineral(store).get(mineral_id, [])
    levels = config.rules.risk.levels
    loc = console.locale(request)
    bands = [(level.min, levels[i + 1].min if i + 1 < len(levels) else 100.0,
              f"band-{level.name}", loc.level(level.name)) for i, level in enumerate(levels)]
    today = console.settings.clock.now().date()
    spans = [(e["start"], e["end"] or today, f"episode-{e['level']}",
              f"{loc.word(e['alertname'])} {loc.level(e['level'])}") for e in episodes]
    score_chart = charts.line_chart(history, low=0, high=100, bands=bands, spans=spans)
    change = queries.change_series(prices[-360:])
    thresholds = queries.price_thresholds(config, mineral_id)
    price_chart = charts.line_chart(prices[-360:], value_format="auto")
    change_chart = charts.line_chart(
        [(d, 100 * v) for d, v in change], value_format="{:+.0f}%",
        thresholds=[(100 * t, css, label) for t, css, label in thresholds])
    return console.page(
        request, "mineral.html", mineral=mineral, latest=latest, perspective=perspective,
        perspectives=config.perspective_ids,
        factors=queries.factors_of(latest), indicators=indicators, episodes=episodes,
        score_chart=score_chart, price_chart=price_chart, change_chart=change_chart,
        thresholds=thresholds, unit=unit, price_source=price_source, news=news,
        events=queries.mineral_events(config, mineral_id), firing=firing,
        missing=_json_list(latest.get("missing")),
        rules=queries.rule_rows(config, [mineral_id]))


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def alerts_page(console: Console, request: Request, *, message: str = "", error: str = "",
                status: int = 200) -> Response:
    config = console.config()
    now = console.settings.clock.now()
    show_expired = request.query_params.get("expired") == "1"
    with console.store() as store:
        groups = queries.alert_groups(store, config, now)
        silences = queries.silence_rows(store, now, include_expired=show_expired)
    message = message or _done_message(request.query_params.get("done", ""))
    return console.page(request, "alerts.html", status=status, groups=groups,
                        silences=silences, message=message, error=error,
                        show_expired=show_expired)


def _done_message(done: str) -> str:
    kind, _, ref = done.partition(":")
    if not ref.isdigit():
        return ""
    return {"ack": f"acknowledged as ack {ref}", "silence": f"silence {ref} created",
            "expired": f"silence {ref} expired"}.get(kind, "")


def history_page(console: Console, request: Request) -> Response:
    config = console.config()
    q = request.query_params
    try:
        wanted = queries.HistoryFilter(
            mineral=q.get("mineral", ""), level=q.get("level", ""),
            alertname=q.get("rule", ""), receiver=q.get("receiver", ""),
            since=_parse_time(q.get("since", ""), console.settings.clock.now()),
            until=_parse_time(q.get("until", ""), console.settings.clock.now()))
        error = ""
    except ValueError as exc:
        wanted, error = queries.HistoryFilter(), str(exc)
    with console.store() as store:
        rows = queries.history(store, wanted, limit=100_000 if q.get("format") else 2000)
    fmt = q.get("format", "")
    if fmt == "csv":
        return Response(csv_text(rows, queries.HISTORY_COLUMNS) + "\n",
                        media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="history.csv"'})
    if fmt == "json":
        return Response(to_json([{c: r.get(c) for c in queries.HISTORY_COLUMNS} for r in rows]),
                        media_type="application/json",
                        headers={"content-disposition": 'attachment; filename="history.json"'})
    receivers = [r.name for r in config.alerting.receivers]
    rules = sorted({r.name for r in config.rules.rules})
    levels = list(DEFAULT_LADDER)
    export = {k: v for k, v in q.items() if k != "format"}
    return console.page(request, "history.html", rows=rows, q=q, error=error,
                        minerals=config.mineral_ids, receivers=receivers, rules=rules,
                        levels=levels, export_query=urlencode(export))


def _parse_time(text: str, now: datetime) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"time {clean_text(text, limit=40)!r}: use a duration back (30d) "
                         "or a date (2026-01-31)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sources_page(console: Console, request: Request) -> Response:
    config = console.config()
    with console.store() as store:
        rows = queries.source_rows(store, config)
        counts = store.count_observations()
    return console.page(request, "sources.html", rows=rows, counts=counts)


def rules_page(console: Console, request: Request, *, draft: rules_edit.Draft | None = None,
               preview: Any = None, message: str = "", status: int = 200,
               preview_form: dict[str, str] | None = None, author: str = "") -> Response:
    config = console.config()
    mineral = request.query_params.get("mineral", "")
    shown = [mineral] if mineral in config.mineral_ids else list(config.mineral_ids)
    with console.store() as store:
        versions = store.config_versions(limit=30)
    fields = draft.fields if draft else rules_edit.form_fields(config)
    editable = True
    try:
        rules_edit.writable_dir(console.settings.config_dir)
        not_editable = ""
    except ConfigError as exc:
        editable, not_editable = False, str(exc)
    overrides = sorted({int(k.split("_")[1]) for k in fields if k.startswith("override_")})
    return console.page(
        request, "rules.html", status=status, config=config, mineral=mineral,
        rows=queries.rule_rows(config, shown),
        fields=fields, override_rows=[*overrides, (max(overrides) + 1) if overrides else 0],
        draft=draft, preview=preview, message=message, versions=versions,
        editable=editable, not_editable=not_editable, digest=config.digest, author=author,
        preview_form=preview_form or {"from": "2021-01-01", "to": PREVIEW_TO.isoformat(),
                                      "minerals": ""},
        rule_names=[r.name for r in config.rules.rules],
        threshold_rules=[r for r in config.rules.rules
                         if f"rule_{r.name}_thresholds" in fields])


# --------------------------------------------------------------------------- actions

Action = Callable[[Console, Request, FormData, str], Response]


def action(console: Console, handler: Action) -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint: refuse a wrong Origin or a missing/invalid CSRF token, then run
    ``handler`` in the thread pool with the form and the acting user."""

    async def endpoint(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=2000)
        user = request.scope.get("state", {}).get("user", "")
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get(
                "host", ""):
            return PlainTextResponse("cross-site request refused", status_code=403)
        token = form.get("csrf")
        if not isinstance(token, str) or not console.csrf.valid(user, token):
            return PlainTextResponse("missing or invalid CSRF token: reload the page and try "
                                     "again", status_code=403)
        return await run_in_threadpool(handler, console, request, form, user)

    return endpoint


def _text(form: FormData, name: str, limit: int = MAX_TEXT) -> str:
    value = form.get(name)
    return clean_text(value, limit=limit).strip() if isinstance(value, str) else ""


def _author(console: Console, form: FormData, user: str) -> str:
    """The authenticated user, else the author typed in the form."""
    return user or _text(form, "author", 64)


def ack_action(console: Console, request: Request, form: FormData, user: str) -> Response:
    author, comment = _author(console, form, user), _text(form, "comment")
    if not author or not comment:
        return alerts_page(console, request, error="an acknowledgement needs an author and a "
                           "comment", status=400)
    now = console.settings.clock.now()
    with console.store() as store:
        alerts = AlertStore(store)
        try:
            target = alerts.find_alert(str(request.path_params["alert"]))
        except ValueError as exc:
            return alerts_page(console, request, error=str(exc), status=404)
        if target.state not in ("firing", "pending"):
            return alerts_page(console, request, status=409, error=(
                f"alert {target.id} is {target.state}; only firing or pending alerts can be "
                "acknowledged"))
        with alerts.transaction():
            ack = alerts.add_ack(alert=target, author=author, comment=comment, now=now)
            alerts.append_note(target, "acked", now, f"ack {ack.id} by {author}: {comment}")
    log.info("alert %s acknowledged by %s from the web console", target.id, author)
    return RedirectResponse(f"/alerts?done=ack:{ack.id}", status_code=303)


def silence_action(console: Console, request: Request, form: FormData, user: str) -> Response:
    author, comment = _author(console, form, user), _text(form, "comment")
    matchers = [m for m in (_text(form, f"matcher_{i}", 200) for i in range(8)) if m]
    problems = []
    if not author or not comment:
        problems.append("a silence needs an author and a comment")
    if not matchers:
        problems.append("a silence needs at least one matcher")
    for matcher in matchers:
        try:
            parse_matcher(matcher)
        except ValueError as exc:
            problems.append(f"matcher {matcher!r}: {exc}")
    try:
        duration = parse_duration(_text(form, "duration", 20) or "2h")
        if duration <= timedelta(0):
            raise ValueError("must be positive")
    except ValueError as exc:
        problems.append(f"duration: {exc}")
        duration = timedelta(0)
    if problems:
        return alerts_page(console, request, error="; ".join(problems), status=400)
    now = console.settings.clock.now()
    with console.store() as store:
        alerts = AlertStore(store)
        with alerts.transaction():
            silence = alerts.add_silence(matchers=matchers, starts_at=now,
                                         ends_at=now + duration, created_by=author,
                                         comment=comment, now=now)
    log.info("silence %s (%s) created by %s from the web console", silence.id,
             " ".join(matchers), author)
    return RedirectResponse(f"/alerts?done=silence:{silence.id}", status_code=303)


def expire_action(console: Console, request: Request, form: FormData, user: str) -> Response:
    silence_id = int(request.path_params["silence"])
    with console.store() as store:
        alerts = AlertStore(store)
        with alerts.transaction():
            ended = alerts.expire_silence(silence_id, console.settings.clock.now())
    if not ended:
        return alerts_page(console, request, status=404,
                           error=f"no active or pending silence with id {silence_id}")
    log.info("silence %s expired by %s from the web console", silence_id,
             _author(console, form, user) or "?")
    return RedirectResponse(f"/alerts?done=expired:{silence_id}", status_code=303)


def draft_action(console: Console, request: Request, form: FormData, user: str) -> Response:
    """check, preview or apply the form's draft of rules.yaml."""
    config = console.config()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    draft = rules_edit.check_draft(config, rules_edit.build_draft(config, fields),
                                   console.settings.config_dir)
    what = _text(form, "action", 20)
    preview_form = {k: _text(form, f"preview_{k}", 200) for k in ("from", "to", "minerals")}
    author = _author(console, form, user)
    if draft.error:
        return rules_page(console, request, draft=draft, status=400, preview_form=preview_form,
                          author=author)
    assert draft.config is not None
    if what == "preview":
        return _preview(console, request, config, draft, preview_form, author)
    if what != "apply":
        return rules_page(console, request, draft=draft, preview_form=preview_form,
                          author=author, message="the draft is valid" + (
                              f"; it changes {', '.join(draft.changed)}" if draft.changed
                              else "; it changes nothing"))
    if _text(form, "base_digest", 80) != config.digest:
        draft.error = ("the config changed on disk since this form was opened: nothing was "
                       "written; review the current rules and apply again")
        return rules_page(console, request, draft=draft, status=409, author=author)
    if not author:
        draft.error = "say who applies the change (author)"
        return rules_page(console, request, draft=draft, status=400)
    return _write(console, request, config, draft.config, author, "web apply", draft)


def _write(console: Console, request: Request, config: Config, new: Config, author: str,
           origin: str, draft: rules_edit.Draft | None = None) -> Response:
    try:
        with console.store() as store:
            written = rules_edit.apply(store, config, new, console.settings.config_dir,
                                       author=author, origin=origin,
                                       now=console.settings.clock.now())
    except (MonitorError, OSError) as exc:
        failed = draft or rules_edit.Draft("", rules_edit.form_fields(config))
        failed.error = f"not written: {exc}"
        return rules_page(console, request, draft=failed, status=400, author=author)
    console.config()  # pick up the files just written
    message = applied_message(origin, author, written,
                              shared_store=console.settings.store_url is not None)
    return rules_page(console, request, message=message, author=author)


def applied_message(origin: str, author: str, written: Sequence[str], *,
                    shared_store: bool) -> str:
    """What an apply or revert did. With a shared (PostgreSQL) store, the instances on other
    hosts read their own config directories: the files were written on this one only."""
    if not written:
        return "nothing to write: no file changes"
    where = f" on {socket.gethostname()}" if shared_store else ""
    message = (f"{origin} by {author}: wrote {', '.join(written)}{where}; a running daemon "
               "reloads it within seconds")
    if shared_store:
        message += ("; instances on other hosts read their own config directories: copy the "
                    "files there too")
    return message


def revert_action(console: Console, request: Request, form: FormData, user: str) -> Response:
    config = console.config()
    version = int(request.path_params["version"])
    author = _author(console, form, user)
    if not author:
        return rules_page(console, request, status=400, draft=rules_edit.Draft(
            "", rules_edit.form_fields(config), error="say who reverts (author)"))
    try:
        with console.store() as store:
            texts = rules_edit.version_texts(store, version)
        new = rules_edit.validate(config, texts, console.settings.config_dir)
    except ConfigError as exc:
        return rules_page(console, request, status=400, draft=rules_edit.Draft(
            "", rules_edit.form_fields(config), error=f"cannot revert to {version}: {exc}"))
    return _write(console, request, config, new, author, f"web revert to {version}")


def _preview(console: Console, request: Request, config: Config, draft: rules_edit.Draft,
             form: dict[str, str], author: str) -> Response:
    from monitor.backtest.events import bundled_events_text, parse_events
    from monitor.backtest.preview import preview

    try:
        start = date.fromisoformat(form["from"] or PREVIEW_FROM.isoformat())
        end = date.fromisoformat(form["to"] or PREVIEW_TO.isoformat())
        if end < start:
            raise ValueError("the end is before the start")
    except ValueError as exc:
        draft.error = f"preview dates: {exc}"
        return rules_page(console, request, draft=draft, status=400, preview_form=form,
                          author=author)
    minerals = [m.strip() for m in form["minerals"].split(",") if m.strip()]
    unknown = sorted(set(minerals) - set(config.mineral_ids))
    if unknown:
        draft.error = f"preview: unknown mineral(s) {', '.join(unknown)}"
        return rules_page(console, request, draft=draft, status=400, preview_form=form,
                          author=author)
    if not console.preview_lock.acquire(blocking=False):
        draft.error = "another preview is running; try again when it has finished"
        return rules_page(console, request, draft=draft, status=429, preview_form=form,
                          author=author)
    try:
        started = datetime.now(UTC)
        events = parse_events(bundled_events_text(), config.minerals.minerals)[0]
        assert draft.config is not None
        result = preview(config, draft.config, console.replay_data(config), events,
                         start=start, end=end, minerals=minerals or None)
        seconds = (datetime.now(UTC) - started).total_seconds()
    finally:
        console.preview_lock.release()
    log.info("rules preview %s..%s: +%d -%d alerts in %.1f s", start, end, result.gained,
             result.lost, seconds)
    return rules_page(console, request, draft=draft, preview=result, preview_form=form,
                      author=author, message=f"preview {start}..{end} took {seconds:.1f} s")


# --------------------------------------------------------------------------- the app


def create_app(settings: Settings) -> Any:
    """The console as an ASGI app (Starlette wrapped in the security guard)."""
    console = Console(settings)
    console.config()  # a broken config fails at start, not on the first page

    def page(view: Callable[..., Response]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            return view(console, request)
        return endpoint

    routes = [
        Route("/", page(overview_page)),
        Route("/mineral/{mineral}", page(mineral_page)),
        Route("/alerts", page(alerts_page)),
        Route("/alerts/{alert}/ack", action(console, ack_action), methods=["POST"]),
        Route("/silences", action(console, silence_action), methods=["POST"]),
        Route("/silences/{silence:int}/expire", action(console, expire_action),
              methods=["POST"]),
        Route("/history", page(history_page)),
        Route("/sources", page(sources_page)),
        Route("/rules", page(rules_page)),
        Route("/rules/draft", action(console, draft_action), methods=["POST"]),
        Route("/rules/revert/{version:int}", action(console, revert_action), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.console = console
    return Guard(app, settings.auth, loopback_only_hosts=settings.loopback)


def default_author() -> str:
    try:
        return os.environ.get("CRITMON_AUTHOR") or getpass.getuser()
    except (KeyError, OSError):
        return ""
