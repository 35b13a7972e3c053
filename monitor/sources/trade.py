"""Polling a trade API: several small calls per poll, each parsed, all saved together.

A Comtrade or Census poll asks for the latest ``months`` complete months (``backfill_months``
on the first poll, so the 12-month median has a history) in as few calls as the APIs allow,
waits ``pause`` between two calls (the keyless quotas are small) and makes at most
``max_calls``. Nothing is saved unless every call succeeded, so a quota answer, an HTML error
page or a renamed field half-way through leaves the stored flows as they were; the error names
the source and the poller backs off as for any source.

Publication dates: a month is taken as public at the earlier of when critmon first saw it and
its month end + the source's ``publication_lag`` (Comtrade 60 days, Census 35 days by default;
docs/trade.md), so ``--as-of`` never sees a month before it was out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from monitor.config.sources import CensusTradeSource, ComtradeSource, TradeQuery, TradeSource
from monitor.core.errors import SourceError, SourceFormatError
from monitor.core.models import FetchResult
from monitor.core.trade import CENSUS_LAG, COMTRADE_LAG, TradeFlow, honest_published_at
from monitor.sources import census, comtrade
from monitor.store.database import Store

log = logging.getLogger(__name__)


class _Fetcher:  # the part of polling.Fetcher used here (no import cycle with polling)
    def fetch(self, url: str, *, source: str = "", etag: str | None = None,
              last_modified: str | None = None, max_bytes: int | None = None,
              timeout_s: float | None = None, found_on: str | None = None
              ) -> FetchResult: ...


@dataclass(frozen=True, slots=True)
class TradePoll:
    """What one trade poll did: rows parsed, rows new or changed, calls made, a data note."""

    rows: int
    changed: int
    calls: int
    problem: str | None = None


def poll_trade(source: TradeSource, fetcher: _Fetcher, store: Store, now: datetime, *,
               sleep: Callable[[float], None] = time.sleep) -> TradePoll:
    """Fetch, parse and save one trade source; raises ``SourceError`` and saves nothing on any
    failed call."""
    first = store.count_trade_flows(source.id) == 0
    months = source.backfill_months if first else source.months
    periods = comtrade.periods_back(_previous_month(now.date()), months)
    session = _Session(source, fetcher, sleep)
    if isinstance(source, ComtradeSource):
        flows = _comtrade(source, session, periods)
        lag = source.publication_lag or COMTRADE_LAG
    else:
        flows = _census(source, session, periods)
        lag = source.publication_lag or CENSUS_LAG
    if not flows and session.calls:
        raise SourceFormatError(
            f"{source.id}: no trade rows in {session.calls} answer(s) for "
            f"{periods[0]:%Y-%m} to {periods[-1]:%Y-%m} (an empty month everywhere: the "
            "API may be down or the query wrong); stored flows are kept", source=source.id)
    fetched = now.date()
    dated = [replace(f, published_at=honest_published_at(f.period, fetched, lag))
             for f in _unique(flows)]
    changed = store.save_trade_flows(dated, fetched_at=now)
    return TradePoll(rows=len(dated), changed=changed, calls=session.calls,
                     problem=session.problem)


class _Session:
    """Calls of one poll: the pause between them, the call budget, the notes."""

    def __init__(self, source: TradeSource, fetcher: _Fetcher,
                 sleep: Callable[[float], None]) -> None:
        self.source = source
        self.fetcher = fetcher
        self.sleep = sleep
        self.calls = 0
        self.problem: str | None = None

    def get(self, url: str) -> bytes | None:
        """One call's body; None for an empty answer (no data for that query)."""
        if self.calls >= self.source.max_calls:
            raise SourceError(f"{self.source.id}: more than max_calls={self.source.max_calls} "
                              "calls needed for one poll; raise max_calls or narrow the "
                              "queries", source=self.source.id)
        if self.calls:
            self.sleep(self.source.pause.total_seconds())
        self.calls += 1
        try:
            result = self.fetcher.fetch(url, source=self.source.id,
                                        max_bytes=self.source.max_bytes,
                                        timeout_s=self.source.timeout.total_seconds())
        except SourceFormatError as exc:
            if ": empty body" in str(exc):
                return None  # Census answers a month without data with 204 and no body
            raise
        return result.body

    def note(self, problem: str) -> None:
        log.warning("source %s: %s", self.source.id, problem)
        self.problem = problem


#: Partners a query for every partner is expected to return per code and month (for planning
#: calls under the 500-record cap; an answer at the cap is split further).
PARTNERS_ESTIMATE = 25


def _comtrade(source: ComtradeSource, session: _Session, periods: list[date]
              ) -> list[TradeFlow]:
    flows: list[TradeFlow] = []
    for query in source.queries:
        codes = source.hs_for(query.minerals)
        partners = len(query.partners) if query.partners else PARTNERS_ESTIMATE
        for months, chunk in comtrade.plan(periods, codes, partners):
            flows += _comtrade_call(source, session, query, months, chunk)
    return flows


def _comtrade_call(source: ComtradeSource, session: _Session, query: TradeQuery,
                   periods: list[date], codes: list[str]) -> list[TradeFlow]:
    """One call; an answer at the 500-record cap is asked again in halves (codes, then
    months) until it fits or is one code and one month."""
    url = comtrade.query_url(source.fetch_url, reporter=query.reporter, flow=query.flow,
                             periods=periods, codes=codes, partners=query.partners)
    body = session.get(url)
    if body is None:
        return []
    flows, capped = comtrade.parse_comtrade(body, source=source.id)
    if not capped:
        return flows
    if len(codes) > 1:
        half = len(codes) // 2
        return (_comtrade_call(source, session, query, periods, codes[:half])
                + _comtrade_call(source, session, query, periods, codes[half:]))
    if len(periods) > 1:
        half = len(periods) // 2
        return (_comtrade_call(source, session, query, periods[:half], codes)
                + _comtrade_call(source, session, query, periods[half:], codes))
    session.note(f"{query.reporter} {query.flow} {codes[0]} {periods[0]:%Y-%m}: the answer "
                 "has 500 records, the preview's cap; some partners may be missing")
    return flows


def _census(source: CensusTradeSource, session: _Session, periods: list[date]
            ) -> list[TradeFlow]:
    flows: list[TradeFlow] = []
    for code in source.hs_for(source.minerals, longest=True):
        body = session.get(census.query_url(source.fetch_url, periods=periods, code=code))
        if body is not None:
            flows += census.parse_census(body, source=source.id)
    return flows


def _previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def _unique(flows: list[TradeFlow]) -> list[TradeFlow]:
    """One flow per natural key (the last answer wins)."""
    return list({f.key: f for f in flows}.values())
