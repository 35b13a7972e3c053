"""The state store: one SQLite database (WAL) and its whole schema.

``database`` is the connection, transactions and the core tables (observations, source state,
config versions, evaluations); ``schema`` holds every migration of every table, so the store
never imports the stages that own news or alert data. May import ``monitor.core`` and
``monitor.config``.
"""
