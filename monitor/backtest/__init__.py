"""Backtest: replay history on a simulated clock through the live code, and score it.

Inputs (bundled data, price files, news, events), the replay itself, the scoring against dated
events and the HTML report. Reads no network and no wall clock. May import every stage below
it (``alerting``, ``risk``, ``rules``, ``sources``, ``news``, ``store``, ``config``, ``core``).
"""
