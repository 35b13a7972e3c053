"""The daemon's process stays lean: ``critmon run`` imports none of the heavy libraries.

SciPy and scikit-learn (the detectors, the news classifier), matplotlib (the report),
openpyxl (xlsx sources) and feedparser (news feeds) are imported where they are used; a full
evaluation runs in a child process (monitor.ops.worker). Importing them would cost the
daemon's resident memory about 100 MB that Python never gives back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: NumPy too: sqlite-utils would import it whenever it is installed (about 15 MB; SciPy and
#: scikit-learn on top of it are the 100 MB), and monitor.store hides it from sqlite-utils.
HEAVY = ("sklearn", "scipy", "pandas", "numpy", "matplotlib", "openpyxl", "feedparser",
         "jinja2", "tqdm", "joblib")


def loaded_after(code: str) -> list[str]:
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_command_line_and_the_daemon_import_no_heavy_library() -> None:
    assert loaded_after("import monitor.cli.main, monitor.ops.daemon, monitor.ops.worker") == []


def test_loading_and_validating_the_config_imports_no_heavy_library() -> None:
    assert loaded_after("from monitor.config.load import load_config\nload_config(None)") == []


def test_sqlite_utils_gets_numpy_when_the_process_imported_it_first() -> None:
    code = ("import numpy\nimport monitor.store.database\nimport sqlite_utils.db\n"
            "assert sqlite_utils.db.np is numpy\n")
    assert "numpy" in loaded_after(code)


def test_the_evaluation_itself_does_load_them() -> None:
    # the probe can fail: the evaluation's module graph does need scikit-learn
    assert "sklearn" in loaded_after("import monitor.risk.assess")


def test_a_tick_without_new_input_imports_no_heavy_library(tmp_path: Path) -> None:
    code = ("from monitor.config.load import load_config\n"
            "from monitor.core.clock import SystemClock\n"
            "from monitor.ops.jobs import alert_cycle, prepare\n"
            f"runtime = prepare(load_config(None), None, Path({str(tmp_path)!r}),"
            " SystemClock().now())\n"
            "alert_cycle(runtime, SystemClock().now(), [])\n")
    assert loaded_after("from pathlib import Path\n" + code) == []
