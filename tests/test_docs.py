"""The countable facts in README.md and docs/*.md agree with the code and the bundled data.

Prose can drift from the code without any other test noticing: these pin what can be counted
or dated (mineral counts, source tables, when the bundled data first describe something).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import click
import pytest

from monitor.cli.main import cli
from monitor.config.load import load_config
from monitor.core.models import Measure
from monitor.sources.bundled import load_bundled_observations

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PRICE_KINDS = {"fred_csv", "pinksheet", "imf_pcps", "table"}
TRADE_KINDS = {"comtrade", "census_trade"}


def text(path: Path) -> str:
    """The file with line breaks folded, so a phrase wrapped across lines still matches."""
    return " ".join(path.read_text(encoding="utf-8").split())


def spelled(day: date) -> str:
    """A date as the docs write it: 6 February 2026."""
    return f"{day.day} {day:%B %Y}"


def first_published(measure: Measure) -> date:
    """The earliest publication date of any bundled observation of ``measure``."""
    minerals = load_config().minerals.minerals
    observations = load_bundled_observations([(m.id, m.usgs) for m in minerals])
    return min(o.published_at for o in observations
               if o.measure == measure and o.published_at is not None)


def test_the_readme_counts_the_configured_minerals() -> None:
    minerals = load_config().minerals.minerals
    on_a_list = [m for m in minerals if not m.members and {2022, 2025} & set(m.lists)]
    row = next(line for line in README.read_text("utf-8").splitlines()
               if line.startswith("| `minerals.yaml` |"))
    assert f"| {len(minerals)} entries: the {len(on_a_list)} minerals of the US critical " \
           f"lists 2022 and 2025" in row


def test_every_count_of_all_minerals_is_the_configured_count() -> None:
    total = len(load_config().minerals.minerals)
    claims = [(path.name, int(n)) for path in (README, *DOCS)
              for n in re.findall(r"\b(?:all|for) (\d+) (?:configured )?minerals\b", text(path))]
    assert len(claims) >= 3  # backtest.md's run, risk-model.md's invariants and benchmark
    assert [c for c in claims if c[1] != total] == []


def test_the_structural_factor_is_dated_by_the_first_bundled_production_table() -> None:
    production = first_published(Measure.PRODUCTION)
    reliance = first_published(Measure.NET_IMPORT_RELIANCE)
    backtest = text(ROOT / "docs" / "backtest.md")
    assert f"structural factor, is unknown before {spelled(production)}" in backtest
    assert f"import reliance alone is known from {spelled(reliance)}" in backtest
    readme = text(README)
    assert f"are known from {spelled(production)}" in readme
    assert f"import reliance from {spelled(reliance)}" in readme
    assert f"published {production.isoformat()}" in text(ROOT / "docs" / "risk-model.md")


def readme_table_ids(heading: str) -> set[str]:
    """The first-column ids of the table under ``heading`` in the README."""
    section = README.read_text("utf-8").split(heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_the_readme_source_tables_list_exactly_the_shipped_sources() -> None:
    sources = load_config().sources.sources
    prices = {s.id for s in sources if s.kind in PRICE_KINDS}
    trade = {s.id for s in sources if s.kind in TRADE_KINDS}
    assert readme_table_ids("## Price sources shipped") == prices
    assert readme_table_ids("## Trade-flow sources shipped") == trade
    assert readme_table_ids("## Policy news sources") == {s.id for s in sources} - prices - trade



def test_the_news_classifier_page_counts_the_corpus_and_the_test_tables() -> None:
    from tests.news.test_classify import HELD_OUT
    from tests.news.test_tagging import MUST_NOT_TAG, MUST_TAG

    corpus = [line for line in (ROOT / "monitor" / "data" / "news_corpus.jsonl")
              .read_text("utf-8").splitlines() if line.strip()]
    origin = {prefix: sum(1 for line in corpus if f'"id": "{prefix}-' in line)
              for prefix in ("fr", "en", "zh", "i18n")}
    page = text(ROOT / "docs" / "news-classifier.md")
    assert f"{len(corpus)} items in the `news eval` format" in page
    assert f"{origin['fr']} **real Federal Register items**" in page
    assert f"{origin['en']} English and {origin['zh']} Chinese items" in page
    assert f"gained {origin['i18n']} items (ids `i18n-<lang>-NNN`)" in page
    assert sum(origin.values()) == len(corpus)
    assert f"On the {len(HELD_OUT)} held-out headlines" in page
    assert f"({len(MUST_TAG)} must-tag and {len(MUST_NOT_TAG)} must-not-tag cases" in page



def readme_commands() -> list[str]:
    """Every command written in the first column of the README's command table."""
    table = README.read_text("utf-8").split("## Commands", 1)[1].split("\n## ", 1)[0]
    usages = []
    for line in table.splitlines():
        if line.startswith("| `"):
            cell = line.split(" | ")[0]
            usages += [u if u.startswith("critmon") else f"critmon {u}"
                       for u in re.findall(r"`([^`]+)`", cell)]
    return usages


def misplaced_words(usage: str) -> list[str]:
    """Options and subcommand names of a usage line that the command at that point lacks.

    Options belong to the command they follow (``critmon --config DIR config check``, not
    ``critmon config check --config DIR``); the line must end on a command, not a group.
    """
    command: click.Command = cli
    wrong = []
    for word in usage.replace("\\|", "|").split()[1:]:
        if isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
        elif (option := re.match(r"\[?(--[a-z][a-z-]*)", word)) and not any(
                option.group(1) in param.opts for param in command.params):
            wrong.append(f"{option.group(1)} (of {command.name})")
    if isinstance(command, click.Group) and not command.invoke_without_command:
        wrong.append(f"{command.name} is a group")
    return wrong


def fenced_commands(path: Path) -> list[str]:
    """``critmon ...`` lines in the code blocks of a page, with their indented continuations."""
    usages: list[str] = []
    fenced = continues = False
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("```"):
            fenced, continues = not fenced, False
            continue
        body = line.split(" # ")[0].rstrip().removesuffix("\\").strip()
        if fenced and body.startswith("critmon "):
            usages.append(body)
            continues = True
        elif fenced and continues and line.startswith(" ") and body:
            usages[-1] += " " + body
        else:
            continues = False
    return usages


def test_every_command_in_the_readme_exists_with_the_options_shown() -> None:
    usages = readme_commands()
    assert len(usages) >= 25
    assert {usage: misplaced_words(usage) for usage in usages
            if misplaced_words(usage)} == {}


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_every_command_in_a_code_block_exists_with_the_options_shown(path: Path) -> None:
    usages = fenced_commands(path)
    assert {usage: misplaced_words(usage) for usage in usages
            if misplaced_words(usage)} == {}
