"""Config of news sources and settings; the shipped news sources are real, keyless, documented."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.config.load import Config, load_config
from monitor.config.rules import NewsSettings
from monitor.config.sources import FederalRegisterSource, HtmlListSource, RssSource, SourcesFile
from monitor.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def one_source(**spec: object) -> object:
    base = {"id": "s", "url": "https://example.org/x"}
    return SourcesFile.model_validate({"sources": [{**base, **spec}]}).sources[0]


@pytest.mark.parametrize(("spec", "kind"), [
    pytest.param({"kind": "rss"}, RssSource, id="rss"),
    pytest.param({"kind": "federal_register", "country": "United States"},
                 FederalRegisterSource, id="federal-register"),
    pytest.param({"kind": "html_list", "selector": "ul.list li", "lang": "zh"}, HtmlListSource,
                 id="html-list-selector"),
    pytest.param({"kind": "html_list", "regex": r'href="(?P<url>[^"]+)">(?P<title>[^<]+)<'},
                 HtmlListSource, id="html-list-regex"),
])
def test_news_source_kinds(spec: dict[str, object], kind: type) -> None:
    source = one_source(**spec)
    assert isinstance(source, kind)
    assert source.max_bytes == 5_000_000  # type: ignore[attr-defined]


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param({"kind": "html_list"}, "exactly one of selector or regex", id="neither"),
    pytest.param({"kind": "html_list", "selector": "li", "regex": "(?P<url>x)(?P<title>y)"},
                 "exactly one of selector or regex", id="both"),
    pytest.param({"kind": "html_list", "regex": "(?P<url>x)"}, "named groups", id="no-title"),
    pytest.param({"kind": "html_list", "regex": "(unclosed"}, "bad regular expression",
                 id="bad-regex"),
    pytest.param({"kind": "html_list", "selector": "ul > li"}, "unsupported selector",
                 id="child-combinator"),
    pytest.param({"kind": "rss", "lang": "it"}, "lang", id="unknown-language"),
])
def test_bad_news_sources_are_rejected(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        one_source(**spec)


def test_an_unknown_mineral_hint_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        "version: 1\nsources:\n  - id: feed\n    kind: rss\n    url: https://example.org/f\n"
        "    minerals: [galium]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.0\.minerals\.0.*galium"):
        load_config(tmp_path)


def test_news_settings_merge_kind_weights_and_check_kinds() -> None:
    settings = NewsSettings.model_validate({"kind_weights": {"tariff": 0.9},
                                            "half_life": "30d"})
    assert settings.kind_weights["tariff"] == 0.9 and settings.kind_weights["export_ban"] == 1.0
    assert settings.half_life == timedelta(days=30)
    with pytest.raises(ValidationError, match="unknown news kind"):
        NewsSettings.model_validate({"alert_kinds": ["export_bans"]})


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_config()


def test_shipped_news_sources_cover_every_required_kind(shipped: Config) -> None:
    news = [s for s in shipped.sources.sources
            if isinstance(s, RssSource | FederalRegisterSource | HtmlListSource)]
    assert all(s.enabled and s.url.startswith("https://") for s in news)
    assert all(timedelta(minutes=30) <= s.interval <= timedelta(hours=2) for s in news)
    urls = [s.url for s in news]
    assert sum("federalregister.gov/api/v1/documents.json" in u for u in urls) >= 3
    assert any("whitehouse.gov/presidential-actions/feed" in u for u in urls)
    assert any("mofcom.gov.cn" in u for u in urls)
    google = [s for s in news if "news.google.com/rss/search" in s.url]
    assert {s.lang for s in google} == {"en", "zh", "zh-Hant", "fr", "es", "pt", "id", "ja",
                                        "de"}
    assert not any("key=" in u or "token=" in u for u in urls)
    assert shipped.rules.news.half_life == timedelta(days=60)


def test_readme_lists_every_shipped_news_source_with_its_url(shipped: Config) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Policy news sources", 1)[1]
    for source in shipped.sources.sources:
        if isinstance(source, RssSource | FederalRegisterSource | HtmlListSource):
            assert f"`{source.id}`" in section
            assert source.url in section
