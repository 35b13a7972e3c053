"""Polling one source: fetch, parse, save, and keep its health and schedule in the store.

A source's schedule lives in ``source_state.next_poll_at`` so it survives restarts: the daemon
wakes each source's job often and polls only when it is due. A failure never escapes this module
as an exception: it marks the source failing with the reason and schedules a retry with
exponential backoff (honouring ``Retry-After`` up to the larger of the source's interval and
6 h); earlier observations are untouched.

Prices pass ``screen_prices`` before they are saved: a value dated after today, not positive,
not finite, or jumping more than x20 from the previous one is dropped, the rest is saved, and the
source stays ok with the drop recorded as its ``last_error`` ("data problem: ...") and logged.

Every error text stored or logged here went through ``clean_text``: one line, no control or
bidi characters, bounded.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from monitor.config.sources import (
    CensusTradeSource,
    ComtradeSource,
    FredSource,
    ImfPcpsSource,
    PinkSheetSource,
    Source,
    TableSource,
)
from monitor.core.errors import (
    MonitorError,
    SourceError,
    SourceFormatError,
    SourceUnavailableError,
    StoreError,
)
from monitor.core.models import FetchResult, Measure, Observation
from monitor.core.untrusted import bounded_seconds, clean_text
from monitor.news.ingest import NEWS_SOURCE_TYPES, NewsPipeline, ingest_news
from monitor.sources.folder import read_folder
from monitor.sources.http import discover_link, redact_url
from monitor.sources.imf import ImfSeries, parse_imf_pcps
from monitor.sources.prices import (
    TableSpec,
    describe_problems,
    parse_fred_csv,
    parse_pinksheet,
    parse_table,
    screen_prices,
)
from monitor.sources.trade import poll_trade
from monitor.store.database import SourceState, Store

log = logging.getLogger(__name__)

TRADE_SOURCE_TYPES = (ComtradeSource, CensusTradeSource)

FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
#: Parsing may use what is left of the source's timeout after the fetch, but at least this.
MIN_PARSE_BUDGET_S = 10.0
#: The longest error text kept in a source's state.
ERROR_MAX = 600


class Fetcher(Protocol):
    """What polling needs from the HTTP edge (``monitor.sources.http.HttpFetcher``)."""

    def fetch(self, url: str, *, source: str = "", etag: str | None = None,
              last_modified: str | None = None, max_bytes: int | None = None,
              timeout_s: float | None = None, found_on: str | None = None) -> FetchResult: ...


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll of one source did."""

    source: str
    ok: bool
    not_modified: bool = False
    rows: int = 0
    changed: int = 0
    latency_s: float = 0.0
    error: str | None = None
    status_changed: bool = False
    data_problem: str | None = None

    @property
    def stored_new_data(self) -> bool:
        """Whether this poll stored new or changed observations or new news items."""
        return self.ok and self.changed > 0


def parse_payload(source: Source, body: bytes, *, deadline: float | None = None,
                  on_missing: Callable[[str], None] | None = None) -> list[Observation]:
    """Turn a fetched body into observations with the parser for the source's kind.

    ``deadline`` (``time.monotonic()``) bounds the parse of a workbook. ``on_missing`` gets
    what a multi-series workbook (Pink Sheet, IMF) lacks of the mapped series, which are
    then skipped rather than failing the whole payload (see ``parse_pinksheet``).
    """
    if isinstance(source, FredSource):
        return parse_fred_csv(body, source=source.id, mineral=source.mineral, unit=source.unit,
                              series=source.series)
    if isinstance(source, PinkSheetSource):
        return parse_pinksheet(body, source=source.id, columns=source.columns,
                               deadline=deadline, on_missing=on_missing)
    if isinstance(source, ImfPcpsSource):
        series = [ImfSeries(s.mineral, code=s.code, description=s.description, unit=s.unit)
                  for s in source.series]
        return parse_imf_pcps(body, source=source.id, series=series, deadline=deadline,
                              on_missing=on_missing)
    if isinstance(source, TableSource):
        spec_fields = {f.name for f in dataclasses.fields(TableSpec)}
        spec = TableSpec(**source.model_dump(include=spec_fields))
        return parse_table(body, source=source.id, spec=spec, deadline=deadline)
    raise TypeError(f"no parser for source kind {type(source).__name__}")


def compute_backoff(consecutive_failures: int, interval: timedelta,
                    retry_after_s: float | None = None, *, jitter: timedelta = timedelta(0),
                    draw: float = 0.0) -> timedelta:
    """Delay before the next attempt: 1m, 2m, 4m, ... capped by the interval and 6h.

    ``jitter`` (the source's) spreads retries: ``draw`` (in [0, 1)) of up to half the delay,
    at most ``jitter``, is added, so sources that failed together (a network outage) do not
    retry in one wave for hours after. A server's ``retry_after_s`` is a floor, honoured up to
    the larger of the interval and 6 h: a source is never parked longer than that, whatever
    the server says (``1e300``, ``inf``).
    """
    exponent = max(0, consecutive_failures - 1)
    delay = FIRST_RETRY * (2 ** min(exponent, 20))
    delay = min(delay, interval, MAX_RETRY)
    delay += min(jitter, delay / 2) * min(max(draw, 0.0), 1.0)
    ceiling = max(interval, MAX_RETRY).total_seconds()
    wait = bounded_seconds(retry_after_s, maximum=ceiling)
    if wait is not None:
        delay = max(delay, timedelta(seconds=wait))
    return delay


def is_due(state: SourceState, now: datetime) -> bool:
    """A source is due when it was never polled or its next poll time has come."""
    return state.next_poll_at is None or datetime.fromisoformat(state.next_poll_at) <= now


def poll_source(source: Source, fetcher: Fetcher, store: Store, now: datetime, *,
                rng: Callable[[], float] = random.random,
                news: NewsPipeline | None = None) -> PollOutcome:
    """Poll one source once and record the result; never raises for a source's own failure.

    News sources (rss, federal_register, html_list) go through ``ingest_news`` with ``news``
    (the daemon's pipeline for its config; derived from the store when None).
    """
    previous = store.source_state(source.id)
    started = time.monotonic()
    problem = None
    try:
        if isinstance(source, TRADE_SOURCE_TYPES):
            # several calls per poll (sources/trade.py); the conditional-request state is unused
            traded = poll_trade(source, fetcher, store, now)
            result = FetchResult(url=source.url, status=200, body=b"")
            rows, changed = traded.rows, traded.changed
            problem = f"data problem: {traded.problem}" if traded.problem else None
        elif isinstance(source, NEWS_SOURCE_TYPES):
            result, bodies = _fetch(source, fetcher, previous)
            ingested = None if result.not_modified else ingest_news(source, result, store, now,
                                                                     news)
            rows, changed = (ingested.parsed, ingested.new) if ingested else (0, 0)
        else:
            result, bodies = _fetch(source, fetcher, previous)
            deadline = max(started + source.timeout.total_seconds(),
                           time.monotonic() + MIN_PARSE_BUDGET_S)
            missing: list[str] = []
            parsed = [] if result.not_modified else _known_by(
                _parse_all(source, bodies, deadline, missing.append), now.date())
            observations, dropped = _screen(source, parsed, store, now)
            problem = _data_problem(source, [*missing, dropped])
            changed = store.save_observations(observations, fetched_at=now) if observations else 0
            rows = len(observations)
    except StoreError:
        raise  # the store itself is broken: the job wrapper reports it, the source is not at fault
    except MonitorError as exc:
        return _record_failure(source, store, previous, now, exc, time.monotonic() - started,
                               rng)
    except Exception as exc:  # a bug in a parser must not take the cycle down with it
        # The exception's text may quote the payload: it goes to the log, not into the state.
        log.exception("source %s: unexpected error while polling", source.id)
        error = SourceError(f"internal error: {type(exc).__name__}", source=source.id)
        return _record_failure(source, store, previous, now, error,
                               time.monotonic() - started, rng)
    latency = time.monotonic() - started
    next_at = now + source.interval + source.jitter * rng()
    state = dataclasses.replace(
        previous, kind=source.kind, url=redact_url(source.url), status="ok",
        last_attempt_at=now.isoformat(), last_success_at=now.isoformat(),
        last_change_at=now.isoformat() if changed else previous.last_change_at,
        consecutive_failures=0, failing_since=None, next_poll_at=next_at.isoformat(),
        etag=(result.etag or previous.etag) if result.not_modified else result.etag,
        last_modified=((result.last_modified or previous.last_modified)
                       if result.not_modified else result.last_modified),
        last_http_status=result.status, last_latency_s=round(latency, 3),
        last_rows=rows, polls=previous.polls + 1,
    )
    if problem:
        state = dataclasses.replace(state, last_error=problem, last_error_at=now.isoformat())
    store.save_source_state(state)
    recovered = previous.status == "failing"
    if recovered:
        log.info("source %s is up again after %d failures", source.id,
                 previous.consecutive_failures)
    return PollOutcome(source.id, ok=True, not_modified=result.not_modified,
                       rows=rows, changed=changed, latency_s=latency,
                       status_changed=recovered or previous.status == "never",
                       data_problem=problem)


def _known_by(observations: list[Observation], fetched_on: date) -> list[Observation]:
    """No value was published after the day it was fetched: cap an estimated date there.

    A parser that dates its rows by the publisher's rhythm (the IMF: two weeks after the month)
    may guess a day later than the release it just fetched came out.
    """
    return [dataclasses.replace(o, published_at=fetched_on)
            if o.published_at is not None and o.published_at > fetched_on else o
            for o in observations]


def _screen(source: Source, parsed: list[Observation], store: Store, now: datetime
            ) -> tuple[list[Observation], str | None]:
    """The plausible observations and, if any were dropped, a summary of why.

    All dropped is a failure of the payload; some dropped is a warning on a source that stays ok.
    """
    if not parsed:
        return [], None
    history: dict[str, list[tuple[date, float]]] = {}
    for stored in store.observations(source=source.id, measure=Measure.PRICE):
        if stored.value is not None:
            history.setdefault(stored.series, []).append((stored.period, stored.value))
    screened = screen_prices(parsed, today=now.date(), history=history)
    if not screened.problems:
        return screened.kept, None
    summary = clean_text(describe_problems(screened.problems), limit=ERROR_MAX)
    if not screened.kept:
        raise SourceFormatError(f"{source.id}: no plausible rows: {summary}", source=source.id)
    return screened.kept, summary


def _data_problem(source: Source, problems: Sequence[str | None]) -> str | None:
    """What a healthy source records and logs as its data problem: missing series (a
    workbook that renamed a mapped column) and dropped rows, or None."""
    text = clean_text("; ".join(p for p in problems if p), limit=ERROR_MAX)
    if not text:
        return None
    log.warning("source %s: %s", source.id, text)
    return f"data problem: {text}"


def _fetch(source: Source, fetcher: Fetcher, previous: SourceState
           ) -> tuple[FetchResult, list[tuple[str, bytes]]]:
    """The fetch result and the payloads to parse: one body, or each file of a folder."""
    if isinstance(source, TableSource) and source.files is not None:
        return read_folder(source.fetch_url, pattern=source.files, source=source.id,
                           etag=previous.etag, max_bytes=source.max_bytes)
    url, found_on = _current_url(source, fetcher)
    timeout_s = source.timeout.total_seconds()
    result = fetcher.fetch(url, source=source.id, etag=previous.etag,
                           last_modified=previous.last_modified, max_bytes=source.max_bytes,
                           timeout_s=timeout_s, found_on=found_on)
    return result, [("", result.body)]


def _parse_all(source: Source, bodies: list[tuple[str, bytes]], deadline: float,
               on_missing: Callable[[str], None] | None = None) -> list[Observation]:
    """Parse each payload in order (a later file's value for a period wins when saved).

    An error in one file of a folder names the file and fails the poll: nothing is saved.
    """
    observations: list[Observation] = []
    for name, body in bodies:
        try:
            observations += parse_payload(source, body, deadline=deadline,
                                          on_missing=_naming_file(on_missing, name))
        except SourceFormatError as exc:
            if not name:
                raise
            detail = str(exc).removeprefix(f"{source.id}: ")
            raise SourceFormatError(clean_text(f"{source.id}: file {name}: {detail}",
                                               limit=ERROR_MAX), source=source.id) from exc
    return observations


def _naming_file(on_missing: Callable[[str], None] | None, name: str
                 ) -> Callable[[str], None] | None:
    """``on_missing`` with the file's name before each problem (a folder source's file)."""
    if on_missing is None or not name:
        return on_missing
    report = on_missing
    return lambda problem: report(f"file {name}: {problem}")


def _current_url(source: Source, fetcher: Fetcher) -> tuple[str, str | None]:
    """The URL to fetch and, for a link found on a ``discover`` page, that page.

    A found link is fetched as outside input (http or https only, internal addresses only from
    an internal page); if none is found, the configured URL is used.
    """
    discover = getattr(source, "discover", None)
    if discover is None:
        return source.fetch_url, None  # secret references resolved; source.url is shown
    try:
        page = fetcher.fetch(discover.page, source=source.id, max_bytes=5_000_000,
                             timeout_s=source.timeout.total_seconds())
        found = discover_link(page.body, pattern=discover.pattern, base_url=discover.page)
    except SourceError as exc:
        log.warning("source %s: link discovery failed (%s); using the configured url",
                    source.id, clean_text(source.redact(str(exc)), limit=ERROR_MAX))
        return source.fetch_url, None
    return found, discover.page


def _record_failure(source: Source, store: Store, previous: SourceState, now: datetime,
                    exc: MonitorError, latency: float, rng: Callable[[], float]) -> PollOutcome:
    failures = previous.consecutive_failures + 1
    retry_after = exc.retry_after_s if isinstance(exc, SourceUnavailableError) else None
    delay = compute_backoff(failures, source.interval, retry_after, jitter=source.jitter,
                            draw=rng())
    # no secret of the url, ever; no control character or unbounded text either
    reason = clean_text(source.redact(f"{type(exc).__name__}: {exc}"), limit=ERROR_MAX)
    state = dataclasses.replace(
        previous, kind=source.kind, url=redact_url(source.url), status="failing",
        last_attempt_at=now.isoformat(), last_error=reason, last_error_at=now.isoformat(),
        consecutive_failures=failures, next_poll_at=(now + delay).isoformat(),
        failing_since=previous.failing_since if previous.status == "failing" else now.isoformat(),
        last_http_status=getattr(exc, "status", None), last_latency_s=round(latency, 3),
        last_rows=0, polls=previous.polls + 1, failures=previous.failures + 1,
    )
    store.save_source_state(state)
    went_down = previous.status != "failing"
    if went_down:
        log.warning("source %s is down: %s (retry in %s)", source.id, reason, delay)
    return PollOutcome(source.id, ok=False, latency_s=latency, error=reason,
                       status_changed=went_down)
