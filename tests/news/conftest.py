"""Fixtures of the news tests (the shared config and classifier are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.rules import NewsSettings
from monitor.news.classify import NewsClassifier
from monitor.news.ingest import NewsPipeline
from monitor.news.tagging import Tagger

FIXTURES = Path(__file__).parent.parent / "fixtures" / "news"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def pipeline(tagger: Tagger, classifier: NewsClassifier) -> NewsPipeline:
    return NewsPipeline(tagger, NewsSettings(), None, classifier)
