"""The news pipeline's configured parts: tagger, settings, language identifier, classifier.

Held apart from ``ingest`` so that ``NewsStore`` can classify pending items (with the
pipeline of its database) without importing the ingest path.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from monitor.config.load import Config, default_config_dir
from monitor.config.minerals import Mineral, MineralsFile
from monitor.config.rules import NewsSettings
from monitor.news.language import LanguageIdentifier, default_identifier
from monitor.news.tagging import Tagger
from monitor.store.database import Store

if TYPE_CHECKING:  # imported where used: the classifier loads scikit-learn
    from monitor.news.classify import NewsClassifier

log = logging.getLogger(__name__)


@dataclass
class NewsPipeline:
    """What ingesting news needs besides the payload: tagger, settings, classifier."""

    tagger: Tagger
    settings: NewsSettings = field(default_factory=NewsSettings)
    cache_dir: Path | None = None
    _classifier: NewsClassifier | None = None
    language: LanguageIdentifier = field(default_factory=default_identifier)

    @classmethod
    def from_config(cls, config: Config, state_dir: Path | None) -> NewsPipeline:
        """The pipeline for a loaded config; the classifier is cached in ``state_dir``."""
        return cls(Tagger(config.minerals.minerals), config.rules.news, state_dir)

    @property
    def classifier(self) -> NewsClassifier:
        """The classifier, loaded or fitted at first use."""
        if self._classifier is None:
            from monitor.news.classify import load_classifier

            self._classifier = load_classifier(self.cache_dir)
        return self._classifier


# --------------------------------------------------------------------------- default pipeline

_PIPELINES: dict[tuple[str, str], NewsPipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def pipeline_for_store(store: Store) -> NewsPipeline:
    """The pipeline for a store when the caller has none: the recorded config, the DB's dir."""
    files = store.last_config_files() or {}
    minerals_text = files.get("minerals.yaml") or _default_text("minerals.yaml")
    rules_text = files.get("rules.yaml") or ""
    cache_dir = database_dir(store)
    key = (hashlib.sha256((minerals_text + "\0" + rules_text).encode()).hexdigest(),
           str(cache_dir or ""))
    with _PIPELINES_LOCK:
        if key not in _PIPELINES:
            _PIPELINES[key] = NewsPipeline(Tagger(_minerals(minerals_text)),
                                           _news_settings(rules_text), cache_dir)
        return _PIPELINES[key]


def database_dir(store: Store) -> Path | None:
    """The directory of the store's database file; None for an in-memory or PostgreSQL
    store."""
    path = store.path()
    return path.parent if path is not None else None


def _default_text(name: str) -> str:
    return (default_config_dir() / name).read_text(encoding="utf-8")


def _minerals(text: str) -> tuple[Mineral, ...]:
    return MineralsFile.model_validate(yaml.safe_load(text)).minerals


def _news_settings(rules_text: str) -> NewsSettings:
    data = yaml.safe_load(rules_text) if rules_text else None
    block = data.get("news") if isinstance(data, dict) else None
    try:
        return NewsSettings.model_validate(block or {})
    except ValueError as exc:  # the daemon validated this config; be safe all the same
        log.warning("invalid news settings in the recorded rules.yaml (%s); using defaults", exc)
        return NewsSettings()
