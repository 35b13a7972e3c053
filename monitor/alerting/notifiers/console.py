"""The console receiver: one line on stdout per notification (the default, no setup)."""

from __future__ import annotations

import sys
from typing import TextIO

from monitor.alerting.notifiers.base import SendResult
from monitor.alerting.render import Notification, console_line
from monitor.core.errors import TransientDeliveryError


class ConsoleNotifier:
    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream

    def send(self, notification: Notification) -> SendResult:
        stream = self._stream or sys.stdout  # looked up late: tests and CLIs swap stdout
        try:
            stream.write(console_line(notification) + "\n")
            stream.flush()
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write to stdout: {exc.strerror}",
                                         receiver=self.name) from exc
        return SendResult()
