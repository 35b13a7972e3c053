"""The risk model: indicators, market context, the supply-risk score, assessment and status.

``indicators``, ``market`` and ``score`` are pure functions of observations; ``assess`` reads
the store and runs them (with ``monitor.rules``) for one date; ``status`` shapes the result for
the ``status`` and ``explain`` commands. May import ``core``, ``config``, ``store``, ``news``,
``sources`` (parsers) and ``rules``; never ``alerting``.
"""
