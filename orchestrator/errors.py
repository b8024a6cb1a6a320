"""One error tree for govmig.

Callers decide what to do from the type alone: the CLI prints a
``GovmigError`` as one clear line and exits non-zero; the reactor dead-letters
a ``PermanentError`` and retries a ``TemporaryError``.
"""


class GovmigError(Exception):
    """Root of every error govmig raises on purpose."""


class ConfigurationError(GovmigError):
    """A setting, file or environment is wrong; the message says how to fix it."""


class InventoryError(GovmigError):
    """An inventory file is invalid; the message names the file, the record and the field."""


class PermanentError(GovmigError):
    """Retrying cannot help: bad input, an illegal request, a missing reference."""


class TemporaryError(GovmigError):
    """A retry may help: a broker or database that is briefly unreachable, a lost race."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay
