"""Polling one source: fetch, parse, save, and keep its health and schedule in the store.

A source's schedule lives in ``source_state.next_poll_at`` so it survives restarts: the daemon
wakes each source's job often and polls only when it is due. A failure never escapes this module
as an exception: it marks the source failing with the reason and schedules a retry with
exponential backoff (honouring ``Retry-After``); earlier observations are untouched.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from monitor.config import FredSource, PinkSheetSource, Source, TableSource
from monitor.errors import MonitorError, SourceError, SourceUnavailableError, StoreError
from monitor.models import FetchResult, Observation
from monitor.news.ingest import NEWS_SOURCE_TYPES, NewsPipeline, ingest_news
from monitor.sources.http import discover_link, redact_url
from monitor.sources.prices import TableSpec, parse_fred_csv, parse_pinksheet, parse_table
from monitor.store import SourceState, Store

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)


class Fetcher(Protocol):
    """What polling needs from the HTTP edge (``monitor.sources.http.HttpFetcher``)."""

    def fetch(self, url: str, *, source: str = "", etag: str | None = None,
              last_modified: str | None = None, max_bytes: int | None = None,
              timeout_s: float | None = None) -> FetchResult: ...


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


def parse_payload(source: Source, body: bytes) -> list[Observation]:
    """Turn a fetched body into observations with the parser for the source's kind."""
    if isinstance(source, FredSource):
        return parse_fred_csv(body, source=source.id, mineral=source.mineral, unit=source.unit,
                              series=source.series)
    if isinstance(source, PinkSheetSource):
        return parse_pinksheet(body, source=source.id, columns=source.columns)
    if isinstance(source, TableSource):
        spec_fields = {f.name for f in dataclasses.fields(TableSpec)}
        spec = TableSpec(**source.model_dump(include=spec_fields))
        return parse_table(body, source=source.id, spec=spec)
    raise TypeError(f"no parser for source kind {type(source).__name__}")


def compute_backoff(consecutive_failures: int, interval: timedelta,
                    retry_after_s: float | None = None) -> timedelta:
    """Delay before the next attempt: 1m, 2m, 4m, ... capped by the interval and 6h."""
    exponent = max(0, consecutive_failures - 1)
    delay = FIRST_RETRY * (2 ** min(exponent, 20))
    delay = min(delay, interval, MAX_RETRY)
    if retry_after_s is not None:
        delay = max(delay, timedelta(seconds=retry_after_s))
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
    try:
        result = _fetch(source, fetcher, previous)
        if isinstance(source, NEWS_SOURCE_TYPES):
            ingested = None if result.not_modified else ingest_news(source, result, store, now,
                                                                     news)
            rows, changed = (ingested.parsed, ingested.new) if ingested else (0, 0)
        else:
            observations = [] if result.not_modified else parse_payload(source, result.body)
            changed = store.save_observations(observations, fetched_at=now) if observations else 0
            rows = len(observations)
    except StoreError:
        raise  # the store itself is broken: the job wrapper reports it, the source is not at fault
    except MonitorError as exc:
        return _record_failure(source, store, previous, now, exc, time.monotonic() - started)
    except Exception as exc:  # a bug in a parser must not take the cycle down with it
        log.exception("source %s: unexpected error while polling", source.id)
        error = SourceError(f"internal error: {type(exc).__name__}: {exc}", source=source.id)
        return _record_failure(source, store, previous, now, error, time.monotonic() - started)
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
    store.save_source_state(state)
    recovered = previous.status == "failing"
    if recovered:
        log.info("source %s is up again after %d failures", source.id,
                 previous.consecutive_failures)
    return PollOutcome(source.id, ok=True, not_modified=result.not_modified,
                       rows=rows, changed=changed, latency_s=latency,
                       status_changed=recovered or previous.status == "never")


def _fetch(source: Source, fetcher: Fetcher, previous: SourceState) -> FetchResult:
    url = _current_url(source, fetcher)
    timeout_s = source.timeout.total_seconds()
    return fetcher.fetch(url, source=source.id, etag=previous.etag,
                         last_modified=previous.last_modified, max_bytes=source.max_bytes,
                         timeout_s=timeout_s)


def _current_url(source: Source, fetcher: Fetcher) -> str:
    """The configured URL, or the one found on the landing page for ``discover`` sources."""
    discover = getattr(source, "discover", None)
    if discover is None:
        return source.fetch_url  # secret references resolved; source.url is what is shown
    try:
        page = fetcher.fetch(discover.page, source=source.id, max_bytes=5_000_000,
                             timeout_s=source.timeout.total_seconds())
        return discover_link(page.body, pattern=discover.pattern, base_url=discover.page)
    except SourceError as exc:
        log.warning("source %s: link discovery failed (%s); using the configured url",
                    source.id, exc)
        return source.fetch_url


def _record_failure(source: Source, store: Store, previous: SourceState, now: datetime,
                    exc: MonitorError, latency: float) -> PollOutcome:
    failures = previous.consecutive_failures + 1
    retry_after = exc.retry_after_s if isinstance(exc, SourceUnavailableError) else None
    delay = compute_backoff(failures, source.interval, retry_after)
    reason = source.redact(f"{type(exc).__name__}: {exc}")  # no secret of the url, ever
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
