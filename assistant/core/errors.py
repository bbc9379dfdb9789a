"""One error vocabulary for the workbench.

Every error a user can meet says what went wrong and what to do; the CLI prints ``str(error)`` and
exits non-zero, with no traceback. Provider errors follow livekit-agents' split (timeout / status /
connection) so one retry loop serves every vendor.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every error the workbench raises on purpose."""


class ConfigError(WorkbenchError):
    """A configuration file or option is invalid."""


class DatasetError(WorkbenchError):
    """A recorded session is missing a file or holds something the loader cannot use."""

    def __init__(self, path: object, problem: str, fix: str, *, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}. {fix}")
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.fix = fix


class LedgerError(WorkbenchError):
    """The ledger file cannot be opened, migrated or written."""


class LedgerLockedError(LedgerError):
    """Another process holds the ledger file for writing."""


class ProviderError(WorkbenchError):
    """A provider call failed. ``retryable`` tells the base class whether to try again."""

    retryable = False

    def __init__(self, message: str, *, provider: str = "", model: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model


class ProviderTimeoutError(ProviderError):
    retryable = True


class ProviderConnectionError(ProviderError):
    retryable = True


class ProviderStatusError(ProviderError):
    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        provider: str = "",
        model: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        self.retryable = status_code == 429 or status_code >= 500


class RoomError(WorkbenchError):
    """A room or token operation failed; ``status`` is the HTTP status when the server answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TenancyError(RoomError):
    """The room belongs to another tenant (by name or by metadata)."""
