"""fedadmet: federated ADMET/Tox prediction. ``from fedadmet import predict`` gives the Python API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "predict"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package (e.g. for the CLI's --help) loads neither torch nor RDKit.
    if name == "predict":
        from fedadmet.inference import predict

        return predict
    raise AttributeError(f"module 'fedadmet' has no attribute {name!r}")
