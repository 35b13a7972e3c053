"""critmon: an early-warning daemon for critical-mineral supply security.

The packages are the stages of the data flow, lowest first (docs/architecture.md; the layering
contract in pyproject.toml is checked by ``make test``)::

    core      models, errors, clock, countries, news kinds, untrusted-text helpers
    config    the four YAML files as validated models; label matchers
    store     the SQLite state store and the whole schema
    news      policy news: parse, dedup, tag, classify, store, pressure, events
    sources   fetch (HTTP), parse (prices, USGS, WGI), bundled data, polling and source health
    rules     detector rules evaluated per mineral into signals
    risk      indicators, market context, the supply-risk score, assessment, status
    alerting  the alert state machine, routing, silences, enqueue, delivery, render, notifiers
    backtest  replay on a simulated clock, scoring against events, the HTML report
    ops       the daemon, its jobs, health, metrics, housekeeping, systemd
    cli       the ``critmon`` command
"""

__version__ = "0.1.0"
