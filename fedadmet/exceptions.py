"""Domain errors. Each message says what was got and what was expected, so a user can fix the input."""

from __future__ import annotations


class FedadmetError(Exception):
    """Base class for every error the platform raises on purpose."""


class InputError(FedadmetError):
    """The user's input (file, column, SMILES, option) cannot be used."""

    def __init__(self, problem: str, *, got: object | None = None, expected: str | None = None) -> None:
        parts = [problem]
        if got is not None:
            parts.append(f"got: {got!r}")
        if expected is not None:
            parts.append(f"expected: {expected}")
        super().__init__("; ".join(parts))


class TooLargeError(InputError):
    """The input exceeds a stated size limit (bytes, rows, molecules)."""


def readable_size(size: int) -> str:
    """A byte count as people read it in a message: ``1 MB``, ``2.5 MB``, ``74 kB``, ``10 bytes``."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.3g} MB"
    return f"{size / 1000:.3g} kB" if size >= 1000 else f"{size} bytes"


class ArtifactError(FedadmetError):
    """A saved model folder is missing, incomplete or from an incompatible version."""


class ServerSideError(FedadmetError):
    """The platform's own model, artifact or state failed, not the caller's input: a server answers 5xx."""


class ModelUnavailableError(ServerSideError):
    """The model a server or workflow was set up with cannot be loaded or used (HTTP 503)."""
