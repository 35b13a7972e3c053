"""Configuration: YAML files in one directory, validated into frozen pydantic models.

A config directory holds ``minerals.yaml``, ``sources.yaml``, ``rules.yaml`` and
``alerting.yaml``. A file missing from a user's directory falls back to the default shipped in
the package, so a directory may override only what it changes. Every error is a
:class:`ConfigError` naming the file, the key path and, where the YAML parser knows it, the line.

A config file is read as if it were hostile: at most ``MAX_CONFIG_BYTES``; YAML aliases (the
"billion laughs"), duplicate keys and nesting deeper than ``MAX_NESTING`` are refused while the
file is composed, before any value is built; every duration and size has bounds; and an error
quotes at most ``QUOTE_MAX`` characters of a value.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from detectors import build_detector
from monitor.core.errors import ConfigError
from monitor.core.news_kinds import DEFAULT_ALERT_KINDS, DEFAULT_KIND_WEIGHTS, NEWS_KINDS
from monitor.core.untrusted import clean_text, redact_secrets

_M = TypeVar("_M", bound=BaseModel)

CONFIG_FILES = ("minerals.yaml", "sources.yaml", "rules.yaml", "alerting.yaml")

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20,
               "gib": 2**30}
_ENV_REF_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_URL_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ID_RE = r"^[a-z][a-z0-9_]*$"

#: A config file is a few kilobytes (the shipped minerals.yaml, the largest, is 28 KB).
MAX_CONFIG_BYTES = 2**20
#: Deeper YAML nesting than any config needs; bounds the composer's recursion.
MAX_NESTING = 40
#: The most characters of a value an error message quotes.
QUOTE_MAX = 80
#: The most characters of any config error message.
MESSAGE_MAX = 400
#: The longest duration ``parse_duration`` returns: far below timedelta's limit.
MAX_DURATION = timedelta(days=36500)


def quote(value: object) -> str:
    """``value`` quoted for an error message: one line, no control characters, bounded."""
    text = value if isinstance(value, str) else str(value)
    return repr(clean_text(text[: QUOTE_MAX * 4], limit=QUOTE_MAX))


def _listing(items: Iterable[object], *, most: int = 10) -> str:
    """``a, b, c`` for an error message: each name bounded, at most ``most`` of them."""
    listed = list(items)
    shown = ", ".join(clean_text(item, limit=QUOTE_MAX) for item in listed[:most])
    return shown + (f" and {len(listed) - most} more" if len(listed) > most else "")


def _duration_seconds(value: object) -> float:
    """Seconds in a duration, possibly inf or nan; ValueError when it is not a duration."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _as_float(value)
    match = _DURATION_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"bad duration {quote(value)}: use a number and a unit, e.g. 30s, 5m, "
                         "4h, 7d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _as_float(number: float) -> float:
    try:
        return float(number)
    except OverflowError:  # an int too large for a float
        return math.inf if number > 0 else -math.inf


def parse_duration(value: object) -> timedelta:
    """Parse ``"30s"``, ``"5m"``, ``"4h"``, ``"7d"``, ``"1w"`` (or a number of seconds).

    A duration is between 0 and ``MAX_DURATION``; anything else is a ValueError, never an
    OverflowError.
    """
    seconds = _duration_seconds(value)
    if not 0 <= seconds <= MAX_DURATION.total_seconds():  # also false for nan
        raise ValueError(f"duration {quote(value)} is out of range: use 0s to "
                         f"{format_duration(MAX_DURATION)}")
    return timedelta(seconds=seconds)


def duration_between(low: str, high: str) -> Callable[[object], timedelta]:
    """A validator: a duration from ``low`` to ``high`` (both included), or a ValueError."""
    bounds = (parse_duration(low).total_seconds(), parse_duration(high).total_seconds())

    def check(value: object) -> timedelta:
        seconds = _duration_seconds(value)
        if not bounds[0] <= seconds <= bounds[1]:  # also false for nan
            raise ValueError(f"must be between {low} and {high}, got {quote(value)}")
        return timedelta(seconds=seconds)

    return check


def format_duration(delta: timedelta) -> str:
    """Render a timedelta the way config files write it (``"4h"``, ``"90s"``)."""
    seconds = delta.total_seconds()
    if seconds == 0:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        size = _DURATION_UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _size_bytes(value: object) -> float:
    """Bytes in a size, possibly inf; ValueError when it is not a size."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _as_float(value)
    match = _SIZE_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"bad size {quote(value)}: use e.g. 20MB, 512KiB")
    return float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]


def parse_size(value: object) -> int:
    """Parse a byte size: ``20MB``, ``512KiB`` or a plain number of bytes (at most 1 TiB)."""
    size = _size_bytes(value)
    if not 0 <= size <= 2**40:
        raise ValueError(f"size {quote(value)} is out of range: use 0 to 1TiB")
    return int(size)


def size_between(low: str, high: str) -> Callable[[object], int]:
    """A validator: a byte size from ``low`` to ``high`` (both included), or a ValueError."""
    bounds = (parse_size(low), parse_size(high))

    def check(value: object) -> int:
        size = _size_bytes(value)
        if not bounds[0] <= size <= bounds[1]:
            raise ValueError(f"must be between {low} and {high}, got {quote(value)}")
        return int(size)

    return check


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]
Identifier = Annotated[str, Field(pattern=_ID_RE)]

# Bounds of every duration and size in the config files: wide enough for any real use, narrow
# enough that no value overflows a datetime, parks a job for centuries or spins a loop.
PollInterval = Annotated[timedelta, BeforeValidator(duration_between("1s", "90d"))]
Jitter = Annotated[timedelta, BeforeValidator(duration_between("0s", "90d"))]
Timeout = Annotated[timedelta, BeforeValidator(duration_between("1s", "10m"))]
FetchSize = Annotated[int, BeforeValidator(size_between("1KiB", "1GiB"))]
PublicationLag = Annotated[timedelta, BeforeValidator(duration_between("0s", "730d"))]
StaleAfter = Annotated[timedelta, BeforeValidator(duration_between("1m", "3650d"))]
Retention = Annotated[timedelta, BeforeValidator(duration_between("1d", "36500d"))]
AlertHold = Annotated[timedelta, BeforeValidator(duration_between("0s", "365d"))]
Window = Annotated[timedelta, BeforeValidator(duration_between("0s", "365d"))]
LongWindow = Annotated[timedelta, BeforeValidator(duration_between("1m", "3650d"))]
HalfLife = Annotated[timedelta, BeforeValidator(duration_between("1h", "3650d"))]
GroupWait = Annotated[timedelta, BeforeValidator(duration_between("0s", "1d"))]
GroupInterval = Annotated[timedelta, BeforeValidator(duration_between("0s", "7d"))]
RepeatInterval = Annotated[timedelta, BeforeValidator(duration_between("1m", "365d"))]
Backoff = Annotated[timedelta, BeforeValidator(duration_between("1s", "7d"))]
GiveUpAfter = Annotated[timedelta, BeforeValidator(duration_between("1m", "90d"))]


class StrictModel(BaseModel):
    """A frozen model that rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- secrets


class SecretRef(StrictModel):
    """Where a secret comes from: an environment variable or a file (e.g. a systemd credential).

    In YAML a secret is written ``${SLACK_BOT_TOKEN}`` or ``{file: /run/credentials/x/token}``;
    the value is resolved when the config is loaded and never stored or printed.
    """

    env: str | None = None
    file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        if isinstance(value, str):
            match = _ENV_REF_RE.match(value.strip())
            if not match:
                raise ValueError(
                    "a secret must be written as ${ENV_VAR} or {file: PATH}, never inline"
                )
            return {"env": match.group(1)}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret needs exactly one of env or file")
        return self

    def describe(self) -> str:
        """Say where the secret comes from, without its value."""
        return f"${{{self.env}}}" if self.env else f"file {self.file}"

    def resolve(self, environ: Mapping[str, str], credentials_dir: str | None) -> SecretStr:
        """Read the secret value, or raise ValueError saying what is missing."""
        if self.env:
            value = environ.get(self.env)
            if not value:
                raise ValueError(f"environment variable {self.env} is not set")
            return SecretStr(value)
        assert self.file is not None
        path = Path(self.file)
        if not path.is_absolute() and credentials_dir:
            path = Path(credentials_dir) / path
        try:
            return SecretStr(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None


_SECRET_WORDS = ("key", "token", "secret", "signature", "password", "passwd", "passphrase",
                 "credential", "credentials")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter name says its value is a secret.

    ``api_key``, ``apiKey``, ``access_token``, ``X-Amz-Signature``, ``client_secret``,
    ``password``, ``sig``, ``auth``; not ``keyword`` or ``author``.
    """
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    return any(word in ("sig", "pwd", "auth") or word.endswith(_SECRET_WORDS)
               or word.startswith("passw") for word in words)


def refuse_inline_secrets(url: str) -> None:
    """Raise ValueError when ``url`` holds a secret written out instead of ``${ENV_VAR}``.

    A password in the userinfo and the value of a secret-looking query parameter (see
    :func:`is_secret_name`) must each be exactly one reference. The message names the
    parameter, never its value.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"cannot parse the url: {clean_text(exc, limit=QUOTE_MAX)}") from None
    if parts.password and not _ENV_REF_RE.match(parts.password):
        raise ValueError("the url holds a password inline: write it as ${ENV_VAR} "
                         "(https://user:${API_PASSWORD}@host/...) and set the variable")
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if value and is_secret_name(name) and not _ENV_REF_RE.match(value):
            raise ValueError(f"query parameter {quote(name)} holds a secret inline: write its "
                             "value as ${ENV_VAR} (e.g. api_key=${FRED_API_KEY}) and set the "
                             "variable")


# --------------------------------------------------------------------------- minerals


class Mineral(StrictModel):
    """One mineral (or a group such as rare earths) that critmon watches."""

    id: Identifier
    name: str
    name_zh: str
    symbol: str | None = None
    aliases: tuple[str, ...] = ()
    aliases_zh: tuple[str, ...] = ()
    ambiguous: bool = False
    lists: tuple[int, ...] = ()
    unit: str = ""
    group: str | None = None
    members: tuple[str, ...] = ()
    usgs: tuple[str, ...] = ()
    notes: str = ""


class MineralsFile(StrictModel):
    version: Literal[1] = 1
    minerals: tuple[Mineral, ...]

    @model_validator(mode="after")
    def _consistent(self) -> MineralsFile:
        ids = [m.id for m in self.minerals]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate mineral ids: {_listing(duplicates)}")
        known = set(ids)
        for mineral in self.minerals:
            for ref in (*mineral.members, *([mineral.group] if mineral.group else [])):
                if ref not in known:
                    raise ValueError(f"mineral {quote(mineral.id)} refers to unknown mineral "
                                     f"{quote(ref)}")
        return self


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
        return tuple(_URL_REF_RE.findall(self.url))

    @property
    def fetch_url(self) -> str:
        """The URL to fetch: ``url`` with its secret references resolved (never show it)."""
        return self._fetch_url or self.url

    def resolve_url(self, values: Mapping[str, str]) -> None:
        """Set :attr:`fetch_url` from ``values`` of the referenced variables (at load only).

        Each value is percent-encoded, so a key with ``&`` or ``/`` stays one query value.
        """
        encoded = {name: urllib.parse.quote(value, safe="") for name, value in values.items()}
        self._fetch_url = _URL_REF_RE.sub(lambda m: encoded[m.group(1)], self.url)
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
        if _URL_REF_RE.search(page):
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
            raise ValueError(f"more than one column maps to: {_listing(twice)}")
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

    lang: Literal["en", "zh"] = "en"
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
            raise ValueError(f"unknown keys in defaults: {_listing(unknown)}")
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
            raise ValueError(f"duplicate source ids: {_listing(duplicates)}")
        return self


# --------------------------------------------------------------------------- rules


class RiskLevel(StrictModel):
    name: Identifier
    min: float = Field(ge=0, le=100)


class RiskWeights(StrictModel):
    structural: float = Field(ge=0, le=1)
    market: float = Field(ge=0, le=1)
    policy: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> RiskWeights:
        total = self.structural + self.market + self.policy
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1, they sum to {total:g}")
        return self


class RiskModelSpec(StrictModel):
    weights: RiskWeights = RiskWeights(structural=0.6, market=0.2, policy=0.2)
    levels: tuple[RiskLevel, ...] = (
        RiskLevel(name="low", min=0), RiskLevel(name="moderate", min=25),
        RiskLevel(name="high", min=50), RiskLevel(name="critical", min=75),
    )
    hysteresis: float = Field(default=3.0, ge=0, le=25)

    @field_validator("levels")
    @classmethod
    def _ascending(cls, levels: tuple[RiskLevel, ...]) -> tuple[RiskLevel, ...]:
        mins = [level.min for level in levels]
        if not levels or mins[0] != 0 or mins != sorted(set(mins)):
            raise ValueError("levels must start at min 0 and strictly increase")
        return levels


class DetectorSpec(BaseModel):
    """A detector kind and its parameters, checked by building the detector once."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _buildable(self) -> DetectorSpec:
        build_detector(self.kind, self.params())  # ValueError names the kind or parameter
        return self


class Rule(StrictModel):
    """Attach a detector to an indicator, for all minerals or a listed few."""

    name: Identifier
    indicator: str
    minerals: Literal["all"] | tuple[str, ...] = "all"
    detector: DetectorSpec
    levels: tuple[str, ...] = ()
    hold: AlertHold = Field(default=timedelta(0), alias="for")
    keep_firing_for: AlertHold = timedelta(0)
    description: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NewsSettings(StrictModel):
    """Policy news: the ``policy_pressure`` indicator, ``policy_event`` alerts and dedup.

    ``kind_weights`` is merged over the defaults, so a file may change one weight only.
    """

    half_life: HalfLife = timedelta(days=60)
    event_window: Window = timedelta(days=7)
    unknown_share: float = Field(default=0.1, ge=0, le=1)
    kind_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    alert_kinds: tuple[str, ...] = DEFAULT_ALERT_KINDS
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    alert_max_age: LongWindow = timedelta(days=7)
    # A policy-event alert is one-shot: it stays firing this long after its item, then resolves.
    alert_keep_firing: AlertHold = timedelta(days=7)
    critical_share: float = Field(default=0.5, ge=0, le=1)
    watch: Literal["all"] | tuple[str, ...] = "all"
    dedup_window: Window = timedelta(days=3)
    title_similarity: float = Field(default=0.6, gt=0, le=1)

    @field_validator("kind_weights", mode="before")
    @classmethod
    def _merge_weights(cls, weights: object) -> object:
        return {**DEFAULT_KIND_WEIGHTS, **weights} if isinstance(weights, dict) else weights

    @field_validator("kind_weights")
    @classmethod
    def _known_weight_kinds(cls, weights: dict[str, float]) -> dict[str, float]:
        _check_kinds(weights)
        return weights

    @field_validator("alert_kinds")
    @classmethod
    def _known_alert_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        _check_kinds(kinds)
        return kinds


def _check_kinds(kinds: Iterable[str]) -> None:
    unknown = sorted(set(kinds) - set(NEWS_KINDS))
    if unknown:
        raise ValueError(f"unknown news kind(s) {_listing(unknown)}; "
                         f"known: {', '.join(NEWS_KINDS)}")


class RulesFile(StrictModel):
    version: Literal[1] = 1
    risk: RiskModelSpec = RiskModelSpec()
    news: NewsSettings = NewsSettings()
    rules: tuple[Rule, ...] = ()
    overrides: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)


# --------------------------------------------------------------------------- alerting


class ConsoleReceiver(StrictModel):
    kind: Literal["console"]


class FileReceiver(StrictModel):
    kind: Literal["file"]
    path: str = "alerts.jsonl"


class SlackReceiver(StrictModel):
    kind: Literal["slack"]
    channel: str | None = None
    token: SecretRef | None = None
    webhook_url: SecretRef | None = None
    api_url: str | None = None
    timeout: Timeout = timedelta(seconds=10)

    @field_validator("api_url")
    @classmethod
    def _http_api_url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://", url):
            raise ValueError(f"api_url must start with http:// or https://, got {quote(url)}")
        return url

    @model_validator(mode="after")
    def _one_mode(self) -> SlackReceiver:
        if (self.token is None) == (self.webhook_url is None):
            raise ValueError("a slack receiver needs exactly one of token (+channel) or webhook_url")
        if self.token is not None and not self.channel:
            raise ValueError("a slack receiver with a bot token needs a channel")
        return self


class EmailReceiver(StrictModel):
    kind: Literal["email"]
    to: tuple[str, ...] = Field(min_length=1)
    sender: str = Field(alias="from")
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = None
    timeout: Timeout = timedelta(seconds=30)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


ReceiverKind = Annotated[
    ConsoleReceiver | FileReceiver | SlackReceiver | EmailReceiver, Field(discriminator="kind")
]


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def digest_crontab(schedule: str) -> str:
    """Turn ``hourly``, ``daily 08:00``, ``weekdays 08:00``, ``weekly mon 08:00`` or a
    five-field cron expression into a cron expression."""
    words = schedule.strip().lower().split()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", words[-1]) if words else None
    at = f"{int(clock.group(2))} {int(clock.group(1))}" if clock else ""
    if words == ["hourly"]:
        return "0 * * * *"
    if len(words) == 2 and clock and words[0] in ("daily", "weekdays"):
        return f"{at} * * " + ("*" if words[0] == "daily" else "mon-fri")
    if len(words) == 3 and clock and words[0] == "weekly" and words[1][:3] in _WEEKDAYS:
        return f"{at} * * {words[1][:3]}"
    if len(words) == 5:
        return " ".join(words)
    raise ValueError(f"bad digest schedule {quote(schedule)}: use hourly, daily HH:MM, "
                     "weekdays HH:MM, weekly DAY HH:MM or a cron expression")


class DigestSpec(StrictModel):
    """A scheduled summary (what is firing, what changed since the last one) for a receiver."""

    schedule: str
    timezone: str = "UTC"
    immediate: bool = True  # false: this receiver gets only digests, no immediate messages
    send_empty: bool = False

    @model_validator(mode="after")
    def _valid_schedule(self) -> DigestSpec:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from apscheduler.triggers.cron import CronTrigger

        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {quote(self.timezone)}") from None
        crontab = digest_crontab(self.schedule)
        try:
            CronTrigger.from_crontab(crontab, timezone=zone)
        except ValueError as exc:
            raise ValueError(f"bad digest schedule {quote(self.schedule)}: "
                             f"{clean_text(exc, limit=QUOTE_MAX)}") from None
        return self

    @property
    def crontab(self) -> str:
        return digest_crontab(self.schedule)


class Receiver(StrictModel):
    name: Identifier
    send_resolved: bool = True
    digest: DigestSpec | None = None
    config: ReceiverKind

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: object) -> object:
        """Accept ``{name, send_resolved, digest, kind, ...kind options}`` as written in YAML."""
        outer_keys = ("name", "send_resolved", "digest")
        if isinstance(data, dict) and "config" not in data:
            outer = {k: data[k] for k in outer_keys if k in data}
            inner = {k: v for k, v in data.items() if k not in outer_keys}
            return {**outer, "config": inner}
        return data


class Route(StrictModel):
    receiver: str | None = None
    matchers: tuple[str, ...] = ()
    group_by: tuple[str, ...] | None = None
    group_wait: GroupWait | None = None
    group_interval: GroupInterval | None = None
    repeat_interval: RepeatInterval | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: tuple[Route, ...] = ()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("matchers")
    @classmethod
    def _matcher_syntax(cls, matchers: tuple[str, ...]) -> tuple[str, ...]:
        return _valid_matchers(matchers)


def _valid_matchers(matchers: tuple[str, ...]) -> tuple[str, ...]:
    from monitor.config.matchers import parse_matcher

    for matcher in matchers:
        parse_matcher(matcher)  # ValueError names the matcher
    return matchers


class InhibitRule(StrictModel):
    source_matchers: tuple[str, ...]
    target_matchers: tuple[str, ...]
    equal: tuple[str, ...] = ()

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _matcher_syntax(cls, matchers: tuple[str, ...]) -> tuple[str, ...]:
        return _valid_matchers(matchers)


class DeliverySettings(StrictModel):
    """Retries: exponential backoff with jitter from ``initial_backoff`` up to ``max_backoff``
    (a Slack ``Retry-After`` wins when longer); give up after ``give_up_after``."""

    initial_backoff: Backoff = timedelta(seconds=10)
    max_backoff: Backoff = timedelta(minutes=30)
    give_up_after: GiveUpAfter = timedelta(days=2)

    @field_validator("max_backoff")
    @classmethod
    def _not_below_initial(cls, max_backoff: timedelta, info: ValidationInfo) -> timedelta:
        initial = info.data.get("initial_backoff")
        if initial is not None and max_backoff < initial:
            raise ValueError(f"must be at least initial_backoff ({format_duration(initial)})")
        return max_backoff


class AlertingFile(StrictModel):
    version: Literal[1] = 1
    receivers: tuple[Receiver, ...]
    route: Route
    inhibit_rules: tuple[InhibitRule, ...] = ()
    delivery: DeliverySettings = DeliverySettings()

    @model_validator(mode="after")
    def _receivers_known(self) -> AlertingFile:
        names = [r.name for r in self.receivers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate receiver names: {_listing(duplicates)}")
        if self.route.receiver is None:
            raise ValueError("the top-level route needs a receiver")
        for receiver in _route_receivers(self.route):
            if receiver not in names:
                raise ValueError(f"route refers to unknown receiver {quote(receiver)}")
        return self


def _route_receivers(route: Route) -> Iterator[str]:
    if route.receiver:
        yield route.receiver
    for child in route.routes:
        yield from _route_receivers(child)


# --------------------------------------------------------------------------- the whole config


@dataclass(frozen=True)
class Config:
    """A complete, validated configuration and where each file came from."""

    minerals: MineralsFile
    sources: SourcesFile
    rules: RulesFile
    alerting: AlertingFile
    origins: dict[str, str]
    texts: dict[str, str]
    secrets: dict[str, SecretStr] = field(default_factory=dict, repr=False)

    @property
    def mineral_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.minerals.minerals)

    def mineral(self, mineral_id: str) -> Mineral:
        for mineral in self.minerals.minerals:
            if mineral.id == mineral_id:
                return mineral
        raise KeyError(mineral_id)

    @property
    def digest(self) -> str:
        """A hash of the four files' text: equal digests mean an equal config."""
        sha = hashlib.sha256()
        for name in CONFIG_FILES:
            sha.update(name.encode() + b"\0" + self.texts[name].encode() + b"\0")
        return sha.hexdigest()


def default_config_dir() -> Path:
    """The config shipped inside the package."""
    return Path(str(importlib.resources.files("monitor") / "defaults"))


def resolve_config_dir(explicit: str | os.PathLike[str] | None,
                       environ: Mapping[str, str] | None = None) -> Path:
    """Pick the config directory: ``--config``, ``CRITMON_CONFIG``, ~/.config/critmon, defaults."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("CRITMON_CONFIG"):
        return Path(environ["CRITMON_CONFIG"])
    if environ.get("CONFIGURATION_DIRECTORY"):  # systemd ConfigurationDirectory=
        return Path(environ["CONFIGURATION_DIRECTORY"].split(":")[0])
    user_dir = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "critmon"
    return user_dir if user_dir.is_dir() else default_config_dir()


def load_config(directory: str | os.PathLike[str] | None = None, *,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and cross-check the four config files; raise ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    base = Path(directory) if directory else default_config_dir()
    if not base.is_dir():
        raise ConfigError(f"config directory {base} does not exist")
    texts, origins = _read_files(base)
    nodes: dict[str, yaml.Node | None] = {}
    data: dict[str, dict[str, Any]] = {}
    for name in CONFIG_FILES:
        nodes[name], data[name] = parse_yaml(texts[name], origins[name])
    minerals = _validate(MineralsFile, data, nodes, origins, "minerals.yaml")
    sources = _validate(SourcesFile, data, nodes, origins, "sources.yaml")
    rules = _validate(RulesFile, data, nodes, origins, "rules.yaml")
    alerting = _validate(AlertingFile, data, nodes, origins, "alerting.yaml")
    config = Config(minerals, sources, rules, alerting, origins, texts)
    _check_cross_references(config, nodes)
    secrets = _resolve_secrets(config, nodes, environ)
    secrets.update(_resolve_source_urls(config, nodes, environ))
    return Config(minerals, sources, rules, alerting, origins, texts, secrets)


def _read_files(base: Path) -> tuple[dict[str, str], dict[str, str]]:
    texts: dict[str, str] = {}
    origins: dict[str, str] = {}
    defaults = default_config_dir()
    for name in CONFIG_FILES:
        path = base / name
        if not path.exists():
            path = defaults / name
        texts[name] = _read_bounded(path)
        origins[name] = str(path)
    return texts, origins


def _read_bounded(path: Path) -> str:
    """The text of a config file, refusing one over ``MAX_CONFIG_BYTES`` without reading it all."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"the file is larger than {MAX_CONFIG_BYTES // 2**20} MiB; a config "
                              "file is a few kilobytes", file=str(path))
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or type(exc).__name__}",
                          file=str(path)) from None


class _RefusedYAML(yaml.MarkedYAMLError):
    """Valid YAML that a config file may not use (aliases, duplicate keys, deep nesting)."""


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python event source, for an install without libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


try:  # libyaml's parser makes the events five times faster; composing stays ours
    from yaml.cyaml import CParser as _EventSource
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _EventSource = _PyParser  # type: ignore[misc,assignment]


class ConfigLoader(yaml.composer.Composer, _EventSource, yaml.constructor.SafeConstructor,
                   yaml.resolver.Resolver):
    """A safe loader (SafeConstructor) that refuses, while composing, so before any value is
    built:

    - aliases (``*name``): a few hundred bytes of nested aliases expand to gigabytes (the
      "billion laughs"), and a config has no need for them;
    - a key given twice in one mapping (YAML says keys are unique; PyYAML keeps the last);
    - nesting deeper than ``MAX_NESTING`` (the composer recurses once per level).

    Values that cannot be built (``2024-13-45`` read as a date) are errors with a line too.
    """

    def __init__(self, stream: str) -> None:
        _EventSource.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _RefusedYAML(problem=f"YAML aliases (*{clean_text(event.anchor, limit=20)}) "
                                       "are not allowed in config files: write the value out",
                               problem_mark=event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _RefusedYAML(problem=f"nested deeper than {MAX_NESTING} levels",
                                   problem_mark=self.peek_event().start_mark)
            return yaml.composer.Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        node = yaml.composer.Composer.compose_mapping_node(self, anchor)
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in first_line:
                raise _RefusedYAML(
                    problem=f"duplicate key {quote(key_node.value)} (first on line "
                            f"{first_line[key_node.value]})", problem_mark=key_node.start_mark)
            first_line[key_node.value] = key_node.start_mark.line + 1
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:  # e.g. a date 2024-13-45, a 5000-digit int
            raise yaml.constructor.ConstructorError(
                problem=f"cannot read this value: {clean_text(exc, limit=QUOTE_MAX)}",
                problem_mark=node.start_mark) from None


def parse_yaml(text: str, path: str) -> tuple[yaml.Node | None, dict[str, Any]]:
    """Compose ``text`` (for line numbers) and build its top-level mapping, or ConfigError."""
    loader = ConfigLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path) from None
    finally:
        loader.dispose()
    if data is None:
        return node, {}
    if not isinstance(data, dict):
        raise ConfigError("the file must contain a mapping at the top level", file=path)
    return node, data


def _yaml_error(exc: yaml.YAMLError, path: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else None
    problem = clean_text(getattr(exc, "problem", None) or exc, limit=MESSAGE_MAX - 20)
    if isinstance(exc, _RefusedYAML):
        return ConfigError(problem, file=path, line=line)
    return ConfigError(f"invalid YAML: {problem}", file=path, line=line)


def _validate(model: type[_M], data: Mapping[str, dict[str, Any]],
              nodes: Mapping[str, yaml.Node | None], origins: Mapping[str, str],
              name: str) -> _M:
    try:
        return model.model_validate(data[name])
    except ValidationError as exc:
        raise _config_error(exc, origins[name], nodes[name]) from None


def _config_error(exc: ValidationError, path: str, node: yaml.Node | None) -> ConfigError:
    """Turn pydantic's first error into a ConfigError with key path and line.

    The message and key path are bounded: a value or key from the file is quoted at most
    ``QUOTE_MAX`` characters long, the message ``MESSAGE_MAX``.
    """
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = _from_defaults([part for part in first["loc"] if not _is_union_tag(part)], node)
    ctx = first.get("ctx") or {}
    message = first["msg"].removeprefix("Value error, ")
    for value in ctx.values():
        if isinstance(value, str) and len(value) > QUOTE_MAX:
            message = message.replace(value, clean_text(value, limit=QUOTE_MAX))
    if first["type"] == "extra_forbidden":
        message = f"unknown key {quote(loc[-1])}" if loc else "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    elif first["type"] == "union_tag_invalid":
        discriminator = str(ctx.get("discriminator", "kind")).strip("'")
        loc = [*loc, discriminator]
        message = (f"unknown {discriminator} {quote(ctx.get('tag', ''))}: use one of "
                   f"{ctx.get('expected_tags', '')}")
    more = len(errors) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(clean_text(message, limit=MESSAGE_MAX), file=path,
                       key=_key_path(loc) or None, line=_line_of(node, loc))


def _from_defaults(loc: list[Any], node: yaml.Node | None) -> list[Any]:
    """``sources.N.key`` -> ``defaults.key`` when the source took ``key`` from ``defaults:``."""
    if len(loc) < 3 or loc[0] != "sources" or not isinstance(loc[1], int):
        return loc
    source = _child(_child(node, "sources"), loc[1])
    if source is None or _child(source, loc[2]) is not None:
        return loc
    return ["defaults", *loc[2:]] if _child(_child(node, "defaults"), loc[2]) else loc


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (part in {"fred_csv", "pinksheet", "table", "console",
                                               "file", "slack", "email", "config", "rss",
                                               "federal_register", "html_list"}
                                      or part.startswith("function-"))


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """Walk the composed YAML tree along ``loc``; return the line of the deepest node found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _child(node: yaml.Node | None, part: object) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                return value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def _check_cross_references(config: Config, nodes: Mapping[str, yaml.Node | None]) -> None:
    """Every mineral id used in sources and rules must exist in minerals.yaml."""
    known = set(config.mineral_ids)
    path = config.origins["sources.yaml"]
    node = nodes["sources.yaml"]
    for index, source in enumerate(config.sources.sources):
        for suffix, mineral in source.minerals_referenced():
            if mineral not in known:
                loc: list[Any] = ["sources", index, *suffix.split(".")]
                raise ConfigError(_unknown_mineral(mineral, known), file=path,
                                  key=_key_path(loc), line=_line_of(node, loc))
    _check_rule_minerals(config, known, nodes["rules.yaml"])


def _check_rule_minerals(config: Config, known: set[str], node: yaml.Node | None) -> None:
    path = config.origins["rules.yaml"]
    for index, rule in enumerate(config.rules.rules):
        if rule.minerals == "all":
            continue
        for position, mineral in enumerate(rule.minerals):
            if mineral not in known:
                loc: list[Any] = ["rules", index, "minerals", position]
                raise ConfigError(_unknown_mineral(mineral, known), file=path,
                                  key=_key_path(loc), line=_line_of(node, loc))
    rules = {rule.name: rule for rule in config.rules.rules}
    for mineral, per_rule in config.rules.overrides.items():
        if mineral not in known:
            loc = ["overrides", mineral]
            raise ConfigError(_unknown_mineral(mineral, known), file=path,
                              key=_key_path(loc), line=_line_of(node, loc))
        for rule_name, override in per_rule.items():
            loc = ["overrides", mineral, rule_name]
            problem = _override_problem(rules.get(rule_name), rule_name, override)
            if problem:
                raise ConfigError(clean_text(problem, limit=MESSAGE_MAX), file=path,
                                  key=_key_path(loc), line=_line_of(node, loc))


def _override_problem(rule: Rule | None, rule_name: str, override: dict[str, Any]) -> str | None:
    """Why a per-mineral override cannot apply, or None when it builds a valid detector."""
    if rule is None:
        return f"no rule named {quote(rule_name)} to override"
    params = {k: v for k, v in override.items() if k not in ("enabled", "levels")}
    try:
        build_detector(rule.detector.kind, {**rule.detector.params(), **params})
    except ValueError as exc:
        return str(exc)
    return None


def _unknown_mineral(mineral: str, known: set[str]) -> str:
    close = sorted(k for k in known if k.startswith(mineral[:3]))[:3]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown mineral {quote(mineral)}{hint}"


def _key_path(loc: Iterable[object]) -> str:
    return ".".join(clean_text(part, limit=QUOTE_MAX) for part in loc)


def _resolve_secrets(config: Config, nodes: Mapping[str, yaml.Node | None],
                     environ: Mapping[str, str]) -> dict[str, SecretStr]:
    """Resolve every secret reference now, so a missing one fails at load, not at send."""
    credentials_dir = environ.get("CREDENTIALS_DIRECTORY")
    secrets: dict[str, SecretStr] = {}
    path = config.origins["alerting.yaml"]
    node = nodes["alerting.yaml"]
    for index, receiver in enumerate(config.alerting.receivers):
        for key in ("token", "webhook_url", "password"):
            ref = getattr(receiver.config, key, None)
            if ref is None:
                continue
            try:
                secrets[f"{receiver.name}.{key}"] = ref.resolve(environ, credentials_dir)
            except ValueError as exc:
                loc = ["receivers", index, key]
                raise ConfigError(clean_text(f"secret {ref.describe()}: {exc}", limit=MESSAGE_MAX),
                                  file=path, key=_key_path(loc),
                                  line=_line_of(node, loc)) from None
    return secrets


def _resolve_source_urls(config: Config, nodes: Mapping[str, yaml.Node | None],
                         environ: Mapping[str, str]) -> dict[str, SecretStr]:
    """Resolve the ``${ENV_VAR}`` references in source URLs; return the values as secrets.

    Each source gets its :attr:`~_SourceBase.fetch_url`; the values join ``Config.secrets`` so
    every redaction (delivery errors, notifier errors) covers them as well.
    """
    secrets: dict[str, SecretStr] = {}
    for index, source in enumerate(config.sources.sources):
        values: dict[str, str] = {}
        for name in source.url_references:
            value = environ.get(name)
            if not value:
                loc = ["sources", index, "url"]
                raise ConfigError(f"environment variable {name} is not set (the url refers to "
                                  f"${{{name}}})", file=config.origins["sources.yaml"],
                                  key=_key_path(loc), line=_line_of(nodes["sources.yaml"], loc))
            values[name] = value
            secrets[f"sources.{source.id}.url.{name}"] = SecretStr(value)
        if values:
            source.resolve_url(values)
    return secrets
