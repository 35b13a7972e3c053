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
    format_duration,
    listing,
    quote,
    refuse_inline_secrets,
)
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



class TableSource(_SourceBase):
    """Any CSV or JSON table, mapped by column/field names."""

    kind: Literal["table"]
    format: Literal["csv", "json"]
    date_field: str
    value_field: str
    mineral: str | None = None
    mineral_field: str | None = None
    unit: str = ""
    date_format: str | None = None
    records_path: str | None = None
    series: str | None = None

    @model_validator(mode="after")
    def _one_mineral(self) -> TableSource:
        if (self.mineral is None) == (self.mineral_field is None):
            raise ValueError("give exactly one of mineral or mineral_field")
        if self.records_path and self.format != "json":
            raise ValueError("records_path applies to format: json only")
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



NewsSource = RssSource | FederalRegisterSource | HtmlListSource


Source = Annotated[
    FredSource | PinkSheetSource | TableSource | RssSource | FederalRegisterSource
    | HtmlListSource,
    Field(discriminator="kind"),
]



class RetentionSpec(StrictModel):
    """How long raw data is kept; ``null`` keeps it forever. Alert history is always kept."""

    news_items: Retention | None = timedelta(days=730)
    observations: Retention | None = None



class SourcesFile(StrictModel):
    version: Literal[1] = 1
    defaults: dict[str, Any] = Field(default_factory=dict)
    retention: RetentionSpec = RetentionSpec()
    sources: tuple[Source, ...] = ()

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
