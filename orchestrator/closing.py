"""``Closing``: the one ``with`` protocol for everything govmig opens.

The store, the Kafka producer and consumer each hold connections that must be
closed; they subclass this instead of repeating ``__enter__``/``__exit__``.
It sits outside the layers, like ``errors``: any layer may use it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Closing(ABC):
    """Closed by ``close()``, and at the end of a ``with`` block."""

    @abstractmethod
    def close(self) -> None:
        """Release what this object holds; safe to call more than once."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
