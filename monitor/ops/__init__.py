"""Operations: the daemon and its jobs, health, metrics, housekeeping, self-alerts, systemd.

Wires the stages together on a schedule (APScheduler), handles signals and reloads, and reports
on critmon itself. May import every stage; only ``monitor.cli`` imports it.
"""
