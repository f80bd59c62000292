"""Writing result tables so that a reader never meets half a file, and nothing an input needs is overwritten."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from fedadmet.atomic import written_atomically
from fedadmet.exceptions import InputError


def check_output_path(output: Path, *inputs: Path) -> None:
    """Refuse, before any work is done, an output that is an input, a folder or in a folder that cannot be
    written; a missing folder is made."""
    output = Path(output)
    if output.is_dir():
        raise InputError(f"output {output} is a folder", expected="a file name")
    if any(output.resolve() == Path(source).resolve() for source in inputs):
        raise InputError(f"output {output} is the input file", expected="a different file, so the input is kept")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot make the output folder {output.parent}: {exc.strerror}") from None
    if not os.access(output.parent, os.W_OK):
        raise InputError(f"cannot write to the folder {output.parent} (no permission)")


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` (gzipped if the name ends in .gz), atomically (:func:`written_atomically`)."""
    path = Path(path)
    with written_atomically(path) as partial:
        frame.to_csv(partial, index=False, compression="gzip" if path.name.lower().endswith(".gz") else None)
    return path
