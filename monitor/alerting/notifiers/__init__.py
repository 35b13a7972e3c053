"""Notifiers: one module per receiver kind (console, JSONL file, Slack, email).

Each turns a rendered notification into one send and says whether it worked, translating its
library's errors into critmon's. Each stands alone; may import ``monitor.core``,
``monitor.config``, ``monitor.alerting.render`` and ``base``.
"""
