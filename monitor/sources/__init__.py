"""Sources: fetch over HTTP(S) or from files, parse payloads into observations, poll on schedule.

``http`` is the only network I/O; the parsers (``prices``, ``usgs``, ``wgi``) are pure;
``bundled`` loads the data shipped in ``monitor.data``; ``polling`` runs one poll and keeps the
source's health and backoff in the store (news sources hand their payload to ``monitor.news``).
May import ``core``, ``config``, ``store`` and ``news``.
"""
