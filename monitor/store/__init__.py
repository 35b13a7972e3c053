"""The state store: one SQLite database (WAL) by default, or PostgreSQL, and the whole schema.

``database`` is the connection, transactions and the core tables (observations, source state,
config versions, evaluations); ``schema`` holds every migration of every table, so the store
never imports the stages that own news or alert data. ``pg`` offers PostgreSQL behind the same
interface, ``pg_schema`` the migrations' PostgreSQL twins, ``lease`` the leader lease that
fences the writes of several instances on one PostgreSQL database. May import ``monitor.core`` and
``monitor.config``.
"""
