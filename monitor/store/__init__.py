"""The state store: one SQLite database (WAL) by default, or PostgreSQL, and the whole schema.

``database`` is the connection, transactions and the core tables (observations, source state,
config versions, evaluations); ``schema`` holds every migration of every table, so the store
never imports the stages that own news or alert data. ``pg`` offers PostgreSQL behind the same
interface, ``pg_schema`` the migrations' PostgreSQL twins, ``lease`` the leader lease that
fences the writes of several instances on one PostgreSQL database. May import ``monitor.core`` and
``monitor.config``.
"""

import sys as _sys


def _import_sqlite_utils_without_numpy() -> None:
    """Import sqlite-utils with NumPy and pandas hidden, unless one is imported already.

    sqlite-utils imports both whenever they are installed, only to map their scalar types to
    column types when it creates or alters a table from Python values. critmon's tables are
    all created by its migrations (``schema``) and no insert alters one, so that mapping is
    never used, and NumPy cost the daemon, which otherwise never needs it, 0.14 s before READY
    and about 15 MB of resident memory (issue 17). A process that imported NumPy first (the
    evaluation's worker) gets sqlite-utils exactly as before.
    """
    if "sqlite_utils" in _sys.modules or "numpy" in _sys.modules or "pandas" in _sys.modules:
        return
    hidden = ("numpy", "pandas")
    for name in hidden:
        _sys.modules[name] = None  # type: ignore[assignment]  # an import of it now fails
    try:
        import sqlite_utils  # noqa: F401
    finally:
        for name in hidden:
            if _sys.modules.get(name) is None:
                del _sys.modules[name]


_import_sqlite_utils_without_numpy()
