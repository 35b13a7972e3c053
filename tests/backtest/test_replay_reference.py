"""The optimised replay gives exactly what the straightforward reference replay gives."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from monitor.backtest.inputs import NewsEvent, ReplayData, bundled_data
from monitor.backtest.replay import Replayer, evaluation_dates, replay
from monitor.config.load import default_config_dir, load_config
from tests.backtest.reference_replay import reference_replay
from tests.backtest.synthetic_news import synthetic_news

D = date.fromisoformat


@pytest.fixture(scope="module")
def config():
    return load_config(default_config_dir())


@pytest.fixture(scope="module")
def data(config):
    return bundled_data(config)


def _news(eid: str, at: datetime, minerals: tuple[str, ...], *, source: str = "mofcom",
          kind: str = "export_control", country: str | None = "China",
          confidence: float = 0.9, supply: bool = True) -> NewsEvent:
    return NewsEvent(id=eid, at=at, title=f"{country} curbs {' and '.join(minerals)} ({eid})",
                     url=f"https://x.test/{eid}", source=source, kind=kind, country=country,
                     minerals=minerals, inferred_minerals=(), is_supply_risk_event=supply,
                     risk_confidence=confidence)


def news_slice() -> list[NewsEvent]:
    """A burst from one source (grouped into one alert), single items, noise, a late item."""
    t = datetime(2023, 7, 3, 9, tzinfo=UTC)
    return [
        _news("a1", t, ("gallium", "germanium")),
        _news("a2", t + timedelta(hours=2), ("gallium",)),
        _news("a3", t + timedelta(hours=3), ("gallium",), source="reuters", country="Indonesia"),
        _news("b1", datetime(2023, 10, 20, 8, tzinfo=UTC), ("graphite",)),
        _news("b2", datetime(2023, 10, 20, 9, tzinfo=UTC), ("graphite",), supply=False),
        _news("c1", datetime(2023, 12, 21, 8, tzinfo=UTC), ("rare_earths", "nickel"),
              kind="export_ban", source="reuters", confidence=0.95),
        _news("d1", datetime(2024, 2, 5, 8, tzinfo=UTC), ("nickel",), country="Indonesia",
              kind="production_cut"),
    ]


def _same_dates(config, data: ReplayData, start: date, end: date,
                minerals: list[str] | None = None) -> int:
    """Step both replays over the same dates; every date must agree. Returns the transitions."""
    ours = Replayer(config, data, minerals)
    count = 0
    reference = list(reference_replay(config, data, start, end, minerals=minerals))
    assert [r.as_of for r in reference] == evaluation_dates(data, start - timedelta(days=120),
                                                            end)
    for ref in reference:
        got = ours.step_date(ref.as_of)
        assert got.signals == ref.signals, ref.as_of
        assert got.transitions == ref.transitions, ref.as_of
        assert got.assessments == ref.assessments, ref.as_of  # indicators, market, risk
        count += len(ref.transitions)
    return count


def test_bundled_data_all_minerals(config, data) -> None:
    assert _same_dates(config, data, D("2022-09-01"), D("2023-06-30")) > 0


def test_bundled_data_some_minerals_2010_2013(config, data) -> None:
    assert _same_dates(config, data, D("2010-01-01"), D("2012-12-31"),
                       ["nickel", "copper", "tin"]) > 0


def test_a_slice_with_news(config, data) -> None:
    with_news = ReplayData(data.observations, data.wgi, data.wgi_published_at, news_slice())
    assert _same_dates(config, with_news, D("2023-06-01"), D("2024-03-31"),
                       ["gallium", "germanium", "graphite", "rare_earths", "nickel"]) > 0


def draft_config(directory: Path, old: str, new: str):
    """The shipped configuration with one text replaced in rules.yaml."""
    shutil.copytree(default_config_dir(), directory)
    rules = directory / "rules.yaml"
    text = rules.read_text()
    assert old in text
    rules.write_text(text.replace(old, new))
    return load_config(directory)


def test_a_config_with_lower_thresholds(config, data, tmp_path: Path) -> None:
    """Another rule set: the price-jump thresholds lowered to +10%/+20%, so more alerts fire."""
    lowered = draft_config(tmp_path / "draft", "thresholds: [0.262, 0.470]",
                           "thresholds: [0.095, 0.182]")
    minerals = ["nickel", "copper", "tin", "aluminum", "cobalt", "zinc"]
    assert _same_dates(lowered, data, D("2021-06-01"), D("2022-06-30"), minerals) > \
        _same_dates(config, data, D("2021-06-01"), D("2022-06-30"), minerals)


def test_dense_news_all_minerals_through_replay_entry_point(config, data) -> None:
    """Synthetic news (the bench's generator, denser) on every mineral: the ``replay`` entry
    point gives the reference's transitions and scores, and reports its progress."""
    news = synthetic_news(config, 80, D("2023-01-01"), 120, seed=3)
    with_news = ReplayData(data.observations, data.wgi, data.wgi_published_at, news)
    start, end = D("2023-01-01"), D("2023-05-31")
    reference = list(reference_replay(config, with_news, start, end))
    seen: list[tuple[int, int]] = []
    ours = replay(config, with_news, start, end, progress=lambda *pair: seen.append(pair))
    assert ours.dates == [r.as_of for r in reference]
    assert ours.transitions == [t for r in reference for t in r.transitions]
    assert any(t.alert.alertname == "policy_event" for t in ours.transitions)
    expected: dict[str, list] = {}
    for r in reference:
        for a in r.assessments:
            if a.risk.score is not None:
                expected.setdefault(a.mineral, []).append((r.as_of, a.risk.score, a.risk.level))
    assert dict(ours.scores) == expected
    total = len(ours.dates)
    assert seen == [(done, total) for done in range(total + 1)]


def test_the_governance_table_grows_release_by_release(config, data) -> None:
    """The replay builds each WGI release's table from the estimates kept by economy and year;
    it is ``build_governance`` of every estimate public at that date, economies in the same
    order."""
    from monitor.risk.indicators import build_governance

    replayer = Replayer(config, data)
    releases = sorted({data.wgi_published_at(w.year) for w in data.wgi})
    assert len(releases) > 3
    for day in [releases[0] - timedelta(days=1), *releases, releases[-1] + timedelta(days=1)]:
        table = replayer.governance_at(day)
        known = [w for w in data.wgi if data.wgi_published_at(w.year) <= day]
        assert replayer.wgi_at(day) == known
        expected = build_governance(known)
        assert table == expected
        assert list(table.by_code) == list(expected.by_code)


def test_configs_replayed_together_give_what_each_gives_alone(config, data, tmp_path: Path
                                                              ) -> None:
    """``replay_configs`` (the preview's single pass): a draft that only changes rules shares
    the running config's assessments, one that changes the risk model does not; each result
    equals that config's own replay (transitions, scores, what fired, last assessments)."""
    from monitor.backtest.replay import Replayer, replay_configs

    lowered = draft_config(tmp_path / "rules", "thresholds: [0.262, 0.470]",
                           "thresholds: [0.095, 0.182]")
    reweighted = draft_config(tmp_path / "risk", "hysteresis: 3", "hysteresis: 9")
    minerals = ["nickel", "copper", "tin", "aluminum", "cobalt", "gallium"]
    assert Replayer(config, data, minerals).assesses_like(lowered, minerals)
    follower = Replayer(lowered, data, minerals, leader=Replayer(config, data, minerals))
    assert {r.rule.name for r in follower.own_rules} == {"price_jump_3m"}  # the changed rule
    assert len(follower.own_rules) == len(minerals)
    assert not Replayer(config, data, minerals).assesses_like(reweighted, minerals)
    start, end = D("2021-06-01"), D("2022-06-30")
    seen: list[tuple[int, int]] = []
    together = replay_configs([config, lowered, reweighted], data, start, end,
                              minerals=minerals, progress=lambda *pair: seen.append(pair))
    assert together[1].transitions != together[0].transitions  # the draft changes something
    for each, result in zip((config, lowered, reweighted), together, strict=True):
        alone = replay(each, data, start, end, minerals=minerals)
        assert result.dates == alone.dates
        assert result.transitions == alone.transitions
        assert dict(result.scores) == dict(alone.scores)
        assert result.factors == alone.factors
        assert result.last_assessments == alone.last_assessments
    total = 3 * len(together[0].dates)
    assert seen == [(0, total), *((3 * done, total) for done in range(1, total // 3 + 1))]
