"""``critmon news``: listing, classifying one headline, scoring a labelled file."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.config.load import default_config_dir
from monitor.news import classify
from monitor.news.classify import NewsClassifier, load_corpus
from monitor.news.items import Classification, NewsItem, NewsRecord
from monitor.news.store import NewsStore
from monitor.store.database import DB_NAME, Store

NOW = datetime.now(UTC)  # the CLI's --since is relative to the wall clock


@pytest.fixture
def state_dir(tmp_path: Path, classifier: NewsClassifier,
              monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir whose classifier is the session's (no refit per test)."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setitem(classify._LOADED, (str(state), classifier.key), classifier)
    return state


def invoke(state_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["--config", str(default_config_dir()), "--state-dir", str(state_dir), *args])
    return result.exit_code, result.output


def record(item_id: str, title: str, age: timedelta, kind: str, risk: bool,
           minerals: tuple[str, ...], dedup_of: str | None = None) -> NewsRecord:
    at = NOW - age
    item = NewsItem(id=item_id, source="gnews", url=f"https://example.org/{item_id}",
                    title=title, published_at=at)
    return NewsRecord(item=item, canonical_url=f"example.org/{item_id}", fetched_at=at,
                      classification=Classification(kind, 0.91, risk, 0.93 if risk else 0.05),
                      minerals=minerals, country="China", dedup_of=dedup_of)


@pytest.fixture
def populated(state_dir: Path) -> Path:
    with Store.open(state_dir / DB_NAME) as store:
        NewsStore(store).save([
            record("s:1", "China bans antimony exports", timedelta(hours=2), "export_ban", True,
                   ("antimony",)),
            record("s:2", "Copper prices ease", timedelta(days=2), "price_move", False,
                   ("copper",)),
            record("s:3", "China bans antimony exports - Yahoo", timedelta(hours=1),
                   "export_ban", True, ("antimony",), dedup_of="s:1"),
            record("s:4", "Old graphite story", timedelta(days=30), "export_control", True,
                   ("graphite",)),
        ])
    return state_dir


def test_news_lists_recent_originals_as_json(populated: Path) -> None:
    code, out = invoke(populated, "news", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["title"] for r in rows] == ["China bans antimony exports", "Copper prices ease"]
    assert rows[0]["risk"] == "yes" and rows[0]["minerals"] == "antimony"
    assert rows[0]["url"] == "https://example.org/s:1"


@pytest.mark.parametrize(("args", "titles"), [
    pytest.param(["--mineral", "copper"], ["Copper prices ease"], id="by-mineral"),
    pytest.param(["--kind", "export_ban"], ["China bans antimony exports"], id="by-kind"),
    pytest.param(["--since", "1d"], ["China bans antimony exports"], id="since"),
    pytest.param(["--since", "60d"], ["China bans antimony exports", "Copper prices ease",
                                      "Old graphite story"], id="longer-window"),
    pytest.param(["--risk-only", "--since", "60d"], ["China bans antimony exports",
                                                     "Old graphite story"], id="risk-only"),
    pytest.param(["--all"], ["China bans antimony exports - Yahoo",
                             "China bans antimony exports", "Copper prices ease"],
                 id="with-duplicates"),
])
def test_news_filters(populated: Path, args: list[str], titles: list[str]) -> None:
    code, out = invoke(populated, "news", "--format", "csv", *args)
    assert code == 0
    assert [row["title"] for row in csv.DictReader(io.StringIO(out))] == titles


def test_news_table_has_headers(populated: Path) -> None:
    code, out = invoke(populated, "news")
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["at", "source", "kind", "risk"]


def test_news_rejects_a_bad_duration(populated: Path) -> None:
    code, out = invoke(populated, "news", "--since", "soon")
    assert code == 2 and "bad duration" in out


def test_news_without_a_database_says_what_to_do(state_dir: Path) -> None:
    code, out = invoke(state_dir, "news")
    assert code == 1 and "critmon once" in out


def test_news_classify_one_headline(state_dir: Path) -> None:
    code, out = invoke(state_dir, "news", "classify",
                       "China bans exports of gallium and germanium to the United States",
                       "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert result["minerals"] == ["gallium", "germanium"] and result["country"] == "China"
    assert result["kind"] in {"export_ban", "export_control"}
    assert result["is_supply_risk_event"] is True and 0.5 <= result["risk_confidence"] <= 1


def test_news_classify_table(state_dir: Path) -> None:
    code, out = invoke(state_dir, "news", "classify", "刚果（金）解除钴出口禁令")  # noqa: RUF001 (Chinese punctuation)
    assert code == 0
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["minerals"] == "cobalt" and lines["is_supply_risk_event"] == "False"


LABELS = [
    {"id": "t1", "date": "2025-01-01", "title": "Malaysia bans export of raw rare earth ores",
     "summary": "", "url": "", "lang": "en", "minerals": ["Rare earths"], "kind": "export_ban",
     "is_supply_risk_event": True, "country": "Malaysia"},
    {"id": "t2", "date": "2025-01-02", "title": "EU lifts sanctions on Syrian central bank",
     "summary": "", "url": "", "lang": "en", "minerals": [], "kind": "sanction",
     "is_supply_risk_event": False, "country": "European Union"},
    {"id": "t3", "date": "2025-01-03", "title": "Tin prices surge to two-year high",
     "summary": "", "url": "", "lang": "en", "minerals": ["tin"], "kind": "price_move",
     "is_supply_risk_event": False, "country": None},
    {"id": "t4", "date": "2025-01-04", "title": "印尼放宽铝土矿出口限制",
     "summary": "", "url": "", "lang": "zh", "minerals": ["aluminium"],
     "kind": "policy_relaxation", "is_supply_risk_event": False, "country": "Indonesia"},
]


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in LABELS) + "\n",
                    encoding="utf-8")
    return path


def test_news_eval_json_on_any_labelled_file(state_dir: Path, labels_file: Path) -> None:
    code, out = invoke(state_dir, "news", "eval", "--labels", str(labels_file),
                       "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["items"] == 4
    assert set(report["is_supply_risk_event"]) == {"precision", "recall", "f1", "support",
                                                   "predicted"}
    assert report["is_supply_risk_event"]["support"] == 1
    assert report["minerals"]["support"] == 3  # "Rare earths" and "aluminium" normalised
    assert report["minerals"]["recall"] == 1.0
    assert "policy_relaxation" in report["kinds"]  # a kind we never predict still scores
    assert report["kinds"]["policy_relaxation"]["recall"] == 0.0
    assert report["confusion"]["labels"][-1] in {"other", "sanction", "price_move",
                                                 "export_ban", "policy_relaxation"}
    assert report["country_accuracy"] is not None


def test_news_eval_table(state_dir: Path, labels_file: Path) -> None:
    code, out = invoke(state_dir, "news", "eval", "--labels", str(labels_file))
    assert code == 0
    assert "is_supply_risk_event: precision" in out
    assert "mineral tagging (micro)" in out and "confusion" in out


def test_news_eval_reports_the_bad_line(state_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(LABELS[0]) + "\n{oops\n", encoding="utf-8")
    code, out = invoke(state_dir, "news", "eval", "--labels", str(path))
    assert code == 1 and "bad.jsonl:2" in out


def test_news_cv_prints_cross_validated_scores(state_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    sample = [i for i in load_corpus() if i.kind in {"tariff", "price_move"}][:40]
    monkeypatch.setattr("monitor.cli.news.load_corpus", lambda: sample)
    code, out = invoke(state_dir, "news", "cv", "--folds", "2", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["items"] == 40 and report["folds"] == 2
