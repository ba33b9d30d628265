"""Error values that carry a location until the CLI prints them.

Library code never prints: it raises one of these, and ``rnncli.cli.main`` turns them into a message and an exit code
(2 for invalid input, 1 for runtime failures).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a user file, pointing at a line and column (1-based; 0 when unknown)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}: error: {self.message}"
        return f"{self.file}: error: {self.message}"


class RnncliError(Exception):
    """Base class of every error rnncli reports to a user without a traceback."""

    exit_code = 1


class UserInputError(RnncliError):
    """Invalid input from the user (config, data, command line): exit code 2."""

    exit_code = 2


class ConfigError(UserInputError):
    """A config file is invalid; holds every problem found, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class DataError(UserInputError):
    """A data file cannot be used with the model (shapes, dtypes, NaN, ...)."""


class RunError(RnncliError):
    """A run directory cannot be used as asked (locked, missing checkpoint, corrupt file, ...)."""


class TrainingDiverged(RnncliError):
    """The loss became NaN or Inf during training."""


def failure_kind(exc: BaseException) -> str:
    """A one-word reason for ``run.json``: diverged, data, config, input, runtime or internal."""
    for kind, cls in (("diverged", TrainingDiverged), ("data", DataError), ("config", ConfigError),
                      ("input", UserInputError), ("runtime", RnncliError)):
        if isinstance(exc, cls):
            return kind
    return "internal"
