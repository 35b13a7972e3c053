"""``sources.yaml``: price and news sources (kind, URL, schedule, limits) and data retention.

A source URL may hold ``${ENV_VAR}`` references: the model keeps the reference (what
``config show`` and the history see) and the loader fills in ``fetch_url``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.config.common import (
    URL_REF_RE,
    FetchSize,
    Identifier,
    Jitter,
    PollInterval,
    PublicationLag,
    Retention,
    StaleAfter,
    StrictModel,
    Timeout,
    duration_between,
    format_duration,
    listing,
    quote,
    refuse_inline_secrets,
)
from monitor.core.trade import M49
from monitor.core.untrusted import redact_secrets

# --------------------------------------------------------------------------- sources


class _SourceBase(StrictModel):
    """What every source has. ``url`` may refer to secrets as ``${ENV_VAR}``
    (``https://host/api?api_key=${FRED_API_KEY}``): the model keeps the reference, which is
    what ``config show``, config history and the store see; :attr:`fetch_url`, resolved when the
    config is loaded, is what the fetcher gets."""

    id: Identifier
    url: str
    enabled: bool = True
    description: str = ""
    interval: PollInterval = timedelta(hours=6)
    jitter: Jitter = timedelta(minutes=5)
    timeout: Timeout = timedelta(seconds=60)
    max_bytes: FetchSize = 50_000_000
    publication_lag: PublicationLag | None = None
    stale_after: StaleAfter | None = None
    _fetch_url: str | None = PrivateAttr(default=None)
    _url_secrets: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        if not re.match(r"^(https?|file)://", url):
            raise ValueError(f"url must start with http://, https:// or file://, got {quote(url)}")
        refuse_inline_secrets(url)
        return url

    @field_validator("jitter")
    @classmethod
    def _jitter_within_interval(cls, jitter: timedelta, info: ValidationInfo) -> timedelta:
        interval = info.data.get("interval")
        if interval is not None and jitter > interval:
            raise ValueError(f"must be at most the interval ({format_duration(interval)})")
        return jitter

    @property
    def url_references(self) -> tuple[str, ...]:
        """The environment variables ``url`` refers to, in order."""
        return tuple(URL_REF_RE.findall(self.url))

    @property
    def fetch_url(self) -> str:
        """The URL to fetch: ``url`` with its secret references resolved (never show it)."""
        return self._fetch_url or self.url

    def resolve_url(self, values: Mapping[str, str]) -> None:
        """Set :attr:`fetch_url` from ``values`` of the referenced variables (at load only).

        Each value is percent-encoded, so a key with ``&`` or ``/`` stays one query value.
        """
        encoded = {name: urllib.parse.quote(value, safe="") for name, value in values.items()}
        self._fetch_url = URL_REF_RE.sub(lambda m: encoded[m.group(1)], self.url)
        self._url_secrets = tuple({*values.values(), *encoded.values()})

    def redact(self, text: str) -> str:
        """``text`` without the secrets of this source's URL (for errors about a fetch)."""
        return redact_secrets(text, self._url_secrets) if self._url_secrets else text

    def minerals_referenced(self) -> Iterator[tuple[str, str]]:
        """Yield (key path suffix, mineral id) for cross-file validation."""
        return iter(())



class FredSource(_SourceBase):
    """A FRED ``fredgraph.csv`` series (IMF primary commodity prices and others)."""

    kind: Literal["fred_csv"]
    mineral: str
    unit: str
    series: str | None = None

    def minerals_referenced(self) -> Iterator[tuple[str, str]]:
        yield "mineral", self.mineral



class DiscoverSpec(StrictModel):
    """Find the current download link on a landing page (its URL changes each release)."""

    page: str
    pattern: str

    @field_validator("page")
    @classmethod
    def _plain_page(cls, page: str) -> str:
        if not re.match(r"^(https?|file)://", page):
            raise ValueError(f"page must start with http://, https:// or file://, got "
                             f"{quote(page)}")
        if URL_REF_RE.search(page):
            raise ValueError("secret references (${ENV_VAR}) are supported in a source's url "
                             "only, not in discover.page")
        refuse_inline_secrets(page)
        return page

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression: {exc}") from None
        return pattern



class PinkSheetSource(_SourceBase):
    """The World Bank Pink Sheet monthly workbook (xlsx) or its CSV form."""

    kind: Literal["pinksheet"]
    columns: dict[str, str] = Field(min_length=1)
    discover: DiscoverSpec | None = None

    @field_validator("columns")
    @classmethod
    def _one_code_per_mineral(cls, columns: dict[str, str]) -> dict[str, str]:
        minerals = list(columns.values())
        twice = sorted({m for m in minerals if minerals.count(m) > 1})
        if twice:
            raise ValueError(f"more than one column maps to: {listing(twice)}")
        return columns

    def minerals_referenced(self) -> Iterator[tuple[str, str]]:
        for code, mineral in self.columns.items():
            yield f"columns.{code}", mineral



class ImfSeriesSpec(StrictModel):
    """One IMF PCPS series: by ``code`` (``PCOBA``) or, for the series without a code, by the
    start of its ``description`` (``Lithium Metal``); the mineral it prices; an optional unit
    (else read from the description)."""

    mineral: str
    code: str | None = None
    description: str | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _one_key(self) -> ImfSeriesSpec:
        if (self.code is None) == (self.description is None):
            raise ValueError("give exactly one of code or description")
        if self.code is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", self.code):
            raise ValueError(f"code must be letters and digits, got {quote(self.code)}")
        if self.description is not None and not self.description.strip():
            raise ValueError("description must not be empty")
        return self


class ImfPcpsSource(_SourceBase):
    """The IMF Primary Commodity Prices monthly workbook (``external-data.xls``)."""

    kind: Literal["imf_pcps"]
    series: tuple[ImfSeriesSpec, ...] = Field(min_length=1)
    discover: DiscoverSpec | None = None

    @field_validator("series")
    @classmethod
    def _one_series_per_mineral(cls, series: tuple[ImfSeriesSpec, ...]
                                ) -> tuple[ImfSeriesSpec, ...]:
        minerals = [s.mineral for s in series]
        twice = sorted({m for m in minerals if minerals.count(m) > 1})
        if twice:
            raise ValueError(f"more than one series maps to: {listing(twice)}")
        keys = [s.code.upper() if s.code else (s.description or "").casefold() for s in series]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"series listed twice: {listing(repeated)}")
        return series

    def minerals_referenced(self) -> Iterator[tuple[str, str]]:
        for index, spec in enumerate(self.series):
            yield f"series.{index}.mineral", spec.mineral



class TableSource(_SourceBase):
    """Any CSV, JSON or xlsx table, mapped by column/field names; from a URL or a folder.

    With ``files`` (a file-name pattern such as ``'fastmarkets_*.xlsx'``) the ``url`` is a
    ``file://`` folder and every matching file in it is read at each poll (a licensed price
    export that the user's own job drops there).
    """

    kind: Literal["table"]
    format: Literal["csv", "json", "xlsx"]
    date_field: str
    value_field: str
    mineral: str | None = None
    mineral_field: str | None = None
    unit: str = ""
    date_format: str | None = None
    records_path: str | None = None
    series: str | None = None
    frequency: str | None = None
    sheet: str | None = None
    files: str | None = None

    @model_validator(mode="after")
    def _one_mineral(self) -> TableSource:
        if (self.mineral is None) == (self.mineral_field is None):
            raise ValueError("give exactly one of mineral or mineral_field")
        if self.records_path and self.format != "json":
            raise ValueError("records_path applies to format: json only")
        if self.sheet is not None and self.format != "xlsx":
            raise ValueError("sheet applies to format: xlsx only")
        if self.frequency is not None and self.frequency.strip().lower() not in {
                "a", "m", "d", "annual", "monthly", "daily"}:
            raise ValueError(f"unknown frequency {quote(self.frequency)}: use A, M or D")
        if self.files is not None:
            if not self.url.startswith("file://"):
                raise ValueError("files (a folder of exports) needs a file:// url of the folder")
            if not self.files.strip() or "/" in self.files or "\\" in self.files:
                raise ValueError(f"files must be a file-name pattern such as '*.csv', got "
                                 f"{quote(self.files)}")
        return self

    def minerals_referenced(self) -> Iterator[tuple[str, str]]:
        if self.mineral:
            yield "mineral", self.mineral



class _NewsSourceBase(_SourceBase):
    """A policy-news source: items are parsed, tagged, classified and kept in ``news_items``.

    ``lang`` is the default language of the items (each item's own script decides);
    ``minerals`` is a hint used when an item names no mineral itself (a search feed for one
    mineral); ``country``, when set, is the acting country of every item from the source
    (the Federal Register: United States; MOFCOM: China).
    """

    lang: Literal["en", "zh", "zh-Hant", "fr", "es", "pt", "id", "ja", "de"] = "en"
    minerals: tuple[str, ...] = ()
    country: str | None = None
    max_bytes: FetchSize = 5_000_000

    def minerals_referenced(self) -> Iterator[tuple[str, str]]:
        for index, mineral in enumerate(self.minerals):
            yield f"minerals.{index}", mineral



class RssSource(_NewsSourceBase):
    """An RSS 2.0, Atom or RDF (RSS 1.0) feed, parsed with feedparser."""

    kind: Literal["rss"]



class FederalRegisterSource(_NewsSourceBase):
    """A Federal Register documents API search (``/api/v1/documents.json?conditions...``)."""

    kind: Literal["federal_register"]



class HtmlListSource(_NewsSourceBase):
    """A plain HTML listing page (MOFCOM announcements): items found by selector or regex.

    ``selector`` names the element holding one item (``li``, ``ul.list li``, ``div#news a``:
    tags, ``.class`` and ``#id`` with descendant steps); within it the first link whose
    absolute URL matches ``link_pattern`` gives URL and title, and ``date_pattern`` the date.
    ``regex`` instead runs over the page with named groups ``url``, ``title`` and optional
    ``date``.
    """

    kind: Literal["html_list"]
    selector: str | None = None
    regex: str | None = None
    link_pattern: str | None = None
    date_pattern: str | None = None

    @field_validator("regex", "link_pattern", "date_pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression: {exc}") from None
        return pattern

    @field_validator("selector")
    @classmethod
    def _simple_selector(cls, selector: str | None) -> str | None:
        step = r"[A-Za-z][A-Za-z0-9]*|(?:[A-Za-z][A-Za-z0-9]*)?(?:[.#][A-Za-z0-9_-]+)+"
        if selector is not None and not re.fullmatch(rf"\s*(?:{step})(?:\s+(?:{step}))*\s*",
                                                      selector):
            raise ValueError(f"unsupported selector {quote(selector)}: use tag, .class, #id, "
                             "tag.class and descendant steps separated by spaces")
        return selector

    @model_validator(mode="after")
    def _one_way(self) -> HtmlListSource:
        if (self.selector is None) == (self.regex is None):
            raise ValueError("give exactly one of selector or regex")
        if self.regex is not None and not {"url", "title"} <= set(
                re.compile(self.regex).groupindex):
            raise ValueError("regex needs named groups (?P<url>...) and (?P<title>...)")
        return self



# --------------------------------------------------------------------------- trade flows


class TradeQuery(StrictModel):
    """What one Comtrade query asks for: a reporter's exports or imports of some minerals.

    ``reporter`` and ``partners`` are ISO alpha-3 codes (``WLD``: the world total); no
    ``partners`` means every partner, which costs more calls (500 records each). The HS codes
    come from each mineral's ``hs:`` list (HS6 only: Comtrade has no national lines).
    """

    reporter: str = Field(pattern=r"^[A-Z]{3}$")
    flow: Literal["X", "M"]
    minerals: tuple[str, ...] = Field(min_length=1)
    partners: tuple[str, ...] | None = None

    @field_validator("reporter")
    @classmethod
    def _known_reporter(cls, reporter: str) -> str:
        if reporter not in M49:
            raise ValueError(f"no UN M49 code known for {quote(reporter)}; known: "
                             f"{listing(sorted(M49))}")
        return reporter

    @field_validator("partners")
    @classmethod
    def _known_partners(cls, partners: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = sorted({p for p in partners or () if p != "WLD" and p not in M49})
        if unknown:
            raise ValueError(f"no UN M49 code known for {listing(unknown)}; known: WLD, "
                             f"{listing(sorted(M49))}")
        return partners


class _TradeSourceBase(_SourceBase):
    """A keyless trade API polled with several small calls per poll (docs/trade.md).

    ``months``: the latest complete months asked at each poll (revisions are caught within
    them); ``backfill_months``: how far back the first poll goes, so the 12-month median has a
    history; ``pause``: the wait between two calls (the preview quotas are small);
    ``max_calls``: a bound on calls per poll.
    """

    interval: PollInterval = timedelta(days=1)
    timeout: Timeout = timedelta(seconds=60)
    max_bytes: FetchSize = 5_000_000
    months: int = Field(default=4, ge=1, le=12)
    backfill_months: int = Field(default=24, ge=1, le=120)
    pause: Annotated[timedelta, BeforeValidator(duration_between("0s", "1m"))] = \
        timedelta(seconds=2)
    max_calls: int = Field(default=60, ge=1, le=500)
    _hs: dict[str, tuple[str, ...]] = PrivateAttr(default_factory=dict)

    @property
    def poll_budget(self) -> timedelta:
        """The longest a healthy poll takes: every call at its timeout, every pause taken."""
        return self.max_calls * (self.timeout + self.pause)

    def resolve_hs(self, hs: Mapping[str, tuple[str, ...]]) -> None:
        """Set each referenced mineral's HS codes from minerals.yaml (at load only)."""
        self._hs = {mineral: tuple(hs.get(mineral, ())) for _, mineral in
                    self.minerals_referenced()}

    def hs_for(self, minerals: tuple[str, ...], *, longest: bool = False) -> tuple[str, ...]:
        """The HS codes of ``minerals`` in file order: HS6 and shorter, or (``longest``) each
        mineral's longest codes (a US 10-digit line where there is one)."""
        codes: list[str] = []
        for mineral in minerals:
            own = self._hs.get(mineral, ())
            if longest and own:
                width = max(len(c) for c in own)
                codes += [c for c in own if len(c) == width]
            else:
                codes += [c for c in own if len(c) <= 6]
        return tuple(dict.fromkeys(codes))


class ComtradeSource(_TradeSourceBase):
    """UN Comtrade's public preview API (keyless, 500 records a call); monthly HS6 flows."""

    kind: Literal["comtrade"]
    queries: tuple[TradeQuery, ...] = Field(min_length=1)
    monitored: str = Field(default="USA", pattern=r"^[A-Z]{3}$")

    def minerals_referenced(self) -> Iterator[tuple[str, str]]:
        for index, query in enumerate(self.queries):
            for number, mineral in enumerate(query.minerals):
                yield f"queries.{index}.minerals.{number}", mineral


class CensusTradeSource(_TradeSourceBase):
    """The US Census Bureau international trade API: US imports by HS10 line and country."""

    kind: Literal["census_trade"]
    minerals: tuple[str, ...] = Field(min_length=1)

    def minerals_referenced(self) -> Iterator[tuple[str, str]]:
        for index, mineral in enumerate(self.minerals):
            yield f"minerals.{index}", mineral


TradeSource = ComtradeSource | CensusTradeSource


NewsSource = RssSource | FederalRegisterSource | HtmlListSource


Source = Annotated[
    FredSource | PinkSheetSource | ImfPcpsSource | TableSource | RssSource
    | FederalRegisterSource | HtmlListSource | ComtradeSource | CensusTradeSource,
    Field(discriminator="kind"),
]



class RetentionSpec(StrictModel):
    """How long raw data is kept; ``null`` keeps it forever. Alert history is always kept."""

    news_items: Retention | None = timedelta(days=730)
    observations: Retention | None = None



def check_store_url(value: str | None) -> str | None:
    """A ``postgresql://`` URL without a password (that comes from ``PGPASSWORD`` or the
    password file, never from a file that is versioned and shown in the console)."""
    if value is None or value == "":
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("store must be a postgresql:// URL (unset: the SQLite file in the "
                         "state directory)")
    try:
        password = urllib.parse.urlsplit(value).password
    except ValueError as exc:
        raise ValueError(f"store is not a valid URL: {exc}") from None
    if password is not None:
        raise ValueError("store must not contain a password: set PGPASSWORD or use a "
                         "password file (PGPASSFILE, ~/.pgpass)")
    return value


class SourcesFile(StrictModel):
    version: Literal[1] = 1
    defaults: dict[str, Any] = Field(default_factory=dict)
    retention: RetentionSpec = RetentionSpec()
    #: ``postgresql://user@host:port/db``: keep every table on PostgreSQL (docs/operations.md);
    #: unset, the SQLite file in the state directory. ``--store`` / ``CRITMON_STORE`` win.
    store: str | None = None
    sources: tuple[Source, ...] = ()

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return check_store_url(value)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: object) -> object:
        """Let ``defaults:`` set interval, timeout, ... for every source that does not."""
        if not isinstance(data, dict) or not isinstance(data.get("defaults"), dict):
            return data
        defaults = data["defaults"]
        allowed = {"interval", "jitter", "timeout", "max_bytes", "stale_after", "enabled"}
        unknown = sorted({str(key) for key in defaults} - allowed)
        if unknown:
            raise ValueError(f"unknown keys in defaults: {listing(unknown)}")
        sources = data.get("sources") or []
        if isinstance(sources, list):
            data = {**data, "sources": [
                {**defaults, **s} if isinstance(s, dict) else s for s in sources
            ]}
        return data

    @model_validator(mode="after")
    def _unique_ids(self) -> SourcesFile:
        ids = [s.id for s in self.sources]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate source ids: {listing(duplicates)}")
        return self
