"""ADMET-AI, the reference tool the benchmarks compare against, in its own virtual environment.

Installed on first use under benchmarks/cache/ (gitignored): PyTorch 2.13.0 CPU first, as for fedadmet,
then the pinned ``admet-ai`` release, so that its dependencies never touch fedadmet's environment.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / "benchmarks" / "cache" / "admet_ai_venv"
ADMET_AI_VERSION = "2.0.1"


def admet_ai_command() -> Path:
    """The ``admet_predict`` executable of the pinned ADMET-AI, installing it once if missing."""
    command = VENV / "bin" / "admet_predict"
    if not command.is_file():
        print(f"installing admet-ai=={ADMET_AI_VERSION} into {VENV} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "torch==2.13.0"], check=True)
        subprocess.run([*pip, f"admet-ai=={ADMET_AI_VERSION}"], check=True)
    return command


def cached_predictions(smiles: Sequence[str], columns: Sequence[str], cache_dir: Path) -> pd.DataFrame:
    """ADMET-AI's ``columns`` for ``smiles``, one row per input in input order, cached in ``cache_dir`` under a
    hash of the version and the inputs: a rerun after fedadmet's model changes does not run ADMET-AI again."""
    digest = hashlib.sha256("\n".join([ADMET_AI_VERSION, *smiles]).encode()).hexdigest()[:20]
    cached = cache_dir / f"admet_ai_{digest}.csv"
    if not cached.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="admet-ai-") as work:
            source, output = Path(work) / "input.csv", Path(work) / "output.csv"
            pd.DataFrame({"smiles": list(smiles)}).to_csv(source, index=False)
            command = [str(admet_ai_command()), "--data_path", str(source), "--save_path", str(output)]
            subprocess.run([*command, "--smiles_column", "smiles"], check=True, stdout=subprocess.DEVNULL)
            predicted = pd.read_csv(output)
        if predicted["smiles"].tolist() != list(smiles):
            raise RuntimeError(f"ADMET-AI wrote {len(predicted)} rows for {len(smiles)} molecules, not one per input")
        predicted.to_csv(cached, index=False)
    predicted = pd.read_csv(cached)
    return predicted[list(columns)]
