"""``critmon data fetch``: options are checked before anything is fetched or created.

The fetching itself, against a local server, is tested in tests/sources/test_usgs_history.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.store.database import DB_NAME


def critmon(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path / "state"), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("args", "hint"), [
    (("--editions", "2019"), "--editions"),
    (("--editions", "2022", "--url", "2023=http://127.0.0.1/x.csv"), "--url"),
    (("--editions", "2022", "--url", "nonsense"), "--url"),
    (("--item-url", "http://127.0.0.1/item"), "--item-url"),
])
def test_bad_options_are_refused_before_anything_is_fetched(
        tmp_path: Path, args: tuple[str, ...], hint: str) -> None:
    code, _out, err = critmon(tmp_path, "data", "fetch", "usgs-mcs", *args)
    assert code == 2 and hint in err
    assert not (tmp_path / "state" / DB_NAME).exists()


def test_data_fetch_is_listed_with_its_dataset(tmp_path: Path) -> None:
    code, out, _ = critmon(tmp_path, "data", "fetch", "--help")
    assert code == 0 and "usgs-mcs" in out and "--editions" in out and "--url" in out
