"""The web console: review alerts and history, acknowledge and silence, edit rules with a preview.

Starlette (ASGI) with Jinja2 templates served by uvicorn; charts are SVG drawn on the server and
no page runs a script, so the Content-Security-Policy allows none. ``critmon web`` serves it
alone, ``critmon run --web`` beside the daemon (docs/console.md).

May import every stage below it (ops, backtest, alerting, risk, rules, sources, news, store,
config, core); only ``monitor.cli`` imports it, and only when the console is asked for.
"""
