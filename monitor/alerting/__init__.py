"""Alerting, after Prometheus Alertmanager: state machine, routing, muting, delivery, notifiers.

``state`` is the pure per-fingerprint state machine; ``routing`` the route tree; ``silences``
silences, acks and inhibition; ``enqueue`` writes state, history and outbox in one transaction;
``deliver`` groups, dedups, sends with retry and records; ``render`` says what a message
shows; ``notifiers`` talk to Slack, SMTP, files and the console. May import ``core``,
``config`` and ``store``; never ``risk``.
"""
