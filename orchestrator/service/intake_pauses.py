"""The flood guard's pauses, kept in the store so every instance and operator sees them.

``IntakePauses`` is a ``Hooks``: when this instance's guard trips it records
the pause (reason, until when), and closes it when the cooldown ends. An
operator's ``govmig intake resume`` closes every open pause in the store;
``ended`` lets this instance's reactor see that its own was closed, whichever
instance consumed the request. A store error here is logged, never raised:
the pause itself does not depend on its record.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from orchestrator.hooks import Hooks
from orchestrator.store import Store
from orchestrator.store import intake as intake_store

log = logging.getLogger(__name__)


class IntakePauses(Hooks):
    """Records this instance's pauses; says when an operator ended the current one."""

    def __init__(self, store: Store, instance: str) -> None:
        self._store, self._instance = store, instance
        self._current: int | None = None

    def after_pause(self, reason: str, cooldown_s: float) -> None:
        """The guard tripped: record the pause and until when it lasts."""
        until = datetime.now(UTC) + timedelta(seconds=cooldown_s)
        log.error("intake paused until %s", until.strftime("%Y-%m-%dT%H:%M:%SZ"))
        with self._store.transaction() as session:
            self._current = intake_store.open_pause(session, self._instance, reason, until)

    def after_resume(self) -> None:
        """Intake runs again: the pause is over (if an operator had not closed it already)."""
        if self._current is None:
            return
        with self._store.transaction() as session:
            intake_store.close_pause(session, self._current)
        self._current = None

    def ended(self) -> bool:
        """Whether the current pause was closed in the store (an operator's request)."""
        if self._current is None:
            return False
        try:
            with self._store.transaction() as session:
                return intake_store.is_closed(session, self._current)
        except Exception:  # the cooldown still ends the pause
            log.exception("could not read the intake pause %d", self._current)
            return False
