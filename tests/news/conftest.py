"""Fixtures of the news tests: the shipped minerals, one fitted classifier per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.load import Config, Mineral, NewsSettings, load_config
from monitor.news.classify import NewsClassifier, load_classifier
from monitor.news.ingest import NewsPipeline
from monitor.news.tagging import Tagger

FIXTURES = Path(__file__).parent.parent / "fixtures" / "news"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config()


@pytest.fixture(scope="session")
def minerals(config: Config) -> tuple[Mineral, ...]:
    return config.minerals.minerals


@pytest.fixture(scope="session")
def tagger(minerals: tuple[Mineral, ...]) -> Tagger:
    return Tagger(minerals)


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("classifier-cache")


@pytest.fixture(scope="session")
def classifier(classifier_cache: Path) -> NewsClassifier:
    """Fitted once per session (a few seconds) and cached on disk like the daemon does."""
    return load_classifier(classifier_cache)


@pytest.fixture
def pipeline(tagger: Tagger, classifier: NewsClassifier) -> NewsPipeline:
    return NewsPipeline(tagger, NewsSettings(), None, classifier)
