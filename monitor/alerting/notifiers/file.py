"""The file receiver: one JSON object per line, appended to a file in the state directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

from monitor.alerting.notifiers.base import SendResult
from monitor.alerting.render import Notification, as_json
from monitor.core.errors import PermanentDeliveryError, TransientDeliveryError


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
