"""The shipped unit file: verified by systemd's own tools where they are installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).parents[2] / "systemd" / "critmon.service"
analyze = shutil.which("systemd-analyze")


def test_unit_exposure_is_ok_or_better() -> None:
    assert analyze, "Debian's systemd is needed: `make test` installs it (make system-deps)"
    result = subprocess.run([analyze, "security", "--offline=yes", str(UNIT)],
                            capture_output=True, text=True, check=False, timeout=60)
    match = re.search(r"Overall exposure level for critmon\.service: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0


def test_unit_verifies_clean_when_critmon_is_installed(tmp_path: Path) -> None:
    assert analyze, "Debian's systemd is needed: `make test` installs it (make system-deps)"
    critmon = Path(sys.executable).parent / "critmon"
    unit = tmp_path / "critmon.service"
    unit.write_text(UNIT.read_text().replace("/opt/critmon/bin/critmon", str(critmon)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            check=False, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "critmon.service" in line]
    assert problems == []


def test_unit_runs_critmon_as_a_notify_service_with_a_watchdog() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "DynamicUser=yes", "StateDirectory=critmon",
                 "ConfigurationDirectory=critmon", "LoadCredential=slack_token:",
                 "LoadCredential=smtp_password:", "RestartPreventExitStatus=78",
                 "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text
