"""The file receiver: one JSON object per line, appended to a file in the state directory.

The file is private like the database: created 0600, an existing one open to other users is
made 0600 (with a log line), and a file that belongs to another user is not written at all.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

from monitor.alerting.notifiers.base import SendResult
from monitor.alerting.render import Notification, as_json
from monitor.core.errors import PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger(__name__)


class FileNotifier:
    """Append JSONL; a relative ``path`` is relative to the state directory."""

    def __init__(self, name: str, path: str | os.PathLike[str], state_dir: Path) -> None:
        self.name = name
        target = Path(path)
        self.path = target if target.is_absolute() else state_dir / target

    def send(self, notification: Notification) -> SendResult:
        line = json.dumps(as_json(notification), ensure_ascii=False, sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One write() of one line in append mode: lines never interleave.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                self._make_private(fd)
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except IsADirectoryError as exc:
            raise PermanentDeliveryError(f"{self.path} is a directory",
                                         receiver=self.name) from exc
        except OSError as exc:
            raise TransientDeliveryError(f"cannot append to {self.path}: {exc.strerror}",
                                         receiver=self.name) from exc
        return SendResult(ref=f"{self.path.name}:{notification.key[:12]}")

    def _make_private(self, fd: int) -> None:
        """Refuse a file of another user; take group/other permissions off ours.

        Checked on the open descriptor, so what is checked is what gets written.
        """
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise TransientDeliveryError(
                f"{self.path} is owned by uid {info.st_uid}, not by uid {os.geteuid()} that "
                "runs critmon: not appending alerts to it", receiver=self.name)
        old = stat.S_IMODE(info.st_mode)
        if old & 0o077:
            os.fchmod(fd, 0o600)
            log.warning("%s was readable or writable by other users (mode %04o): now 0600",
                        self.path, old)
