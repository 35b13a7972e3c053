"""Where a test may stop the process: right after the enqueue commit and after the claim commit
(and, in the daemon's evaluation, once everything is written but not yet committed).

The crash-safety tests set :data:`after_commit` to a function that SIGKILLs the process at a
stage (``"enqueued"``, ``"claimed"``), then restart and check that nothing was lost or sent
twice. In production it stays ``None`` and :func:`reached` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable

#: Test seam: called with "enqueued" after the enqueue commit and "claimed" after the claim
#: commit (the crash-safety test makes the process SIGKILL itself there).
after_commit: Callable[[str], None] | None = None


def reached(stage: str) -> None:
    """Call the test seam, if one is set, at ``stage``."""
    if after_commit is not None:
        after_commit(stage)
