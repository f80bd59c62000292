"""What the physicochemical properties and rules add to a profile, per molecule.

    .venv/bin/python -m benchmarks.properties.run             # 500 approved drugs, 5 alternating rounds

One process, one core: the profile's chemistry step (parse, standardise, featurise, structural alerts:
``fedadmet.chem.pipeline``) runs over the same molecules with the properties computed as a profile computes
them, and with them left out, alternating, best round of each; and inside the first, the properties alone
(QED, SA score and what the features do not hold) beside the featurizer. Writes
benchmarks/results/properties.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from rdkit import Chem, rdBase

from fedadmet.chem import pipeline
from fedadmet.chem.featurizers import FeatureSet, default_feature_set
from fedadmet.chem.properties import PROPERTY_NAMES
from fedadmet.chem.standardize import MoleculeLimits
from fedadmet.data.public import approved_drugs

RESULTS = Path(__file__).resolve().parents[1] / "results"


class _TimedFeatures(FeatureSet):
    """The default feature set (so the properties find its descriptors), adding up the time it takes."""

    def __init__(self) -> None:
        super().__init__(default_feature_set().featurizers)
        self.seconds = 0.0

    def __call__(self, mol: Chem.Mol) -> np.ndarray:
        started = time.perf_counter()
        row = super().__call__(mol)
        self.seconds += time.perf_counter() - started
        return row


def _timed_chunk(texts: list[str], with_properties: bool) -> tuple[float, float, float]:
    """Seconds for the whole chunk, and within it for the featurizer and for the properties."""
    features, compute = _TimedFeatures(), pipeline.molecule_properties
    spent = [0.0]

    def properties(mol: Chem.Mol, known: dict[str, float] | None = None, bits: np.ndarray | None = None) -> np.ndarray:
        started = time.perf_counter()
        values = compute(mol, known, bits) if with_properties else np.zeros(len(PROPERTY_NAMES))
        spent[0] += time.perf_counter() - started
        return values

    pipeline.molecule_properties = properties  # the chunk's own call, timed (or left out)
    try:
        started = time.perf_counter()
        pipeline._chemistry_chunk(features, MoleculeLimits(), False, texts)
        total = time.perf_counter() - started
    finally:
        pipeline.molecule_properties = compute
    return total, features.seconds, spent[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = approved_drugs()["smiles"].tolist()[1 :: max(1, 2579 // args.molecules)][: args.molecules]
    _timed_chunk(texts[:20], True)  # warm-up: RDKit's pattern caches, the SA fragment scores
    rounds: dict[str, list[float]] = {"with": [], "without": [], "features": [], "properties": []}
    for _ in range(args.rounds):
        total, features, properties = _timed_chunk(texts, True)
        rounds["with"].append(total)
        rounds["features"].append(features)
        rounds["properties"].append(properties)
        rounds["without"].append(_timed_chunk(texts, False)[0])
    per_molecule = {name: 1000 * min(values) / len(texts) for name, values in rounds.items()}
    result = {
        "molecules": len(texts),
        "rounds": args.rounds,
        "ms_per_molecule": {name: round(value, 3) for name, value in per_molecule.items()},
        "added_ms_per_molecule": round(per_molecule["with"] - per_molecule["without"], 3),
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "rdkit": rdBase.rdkitVersion,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "properties.json").write_text(json.dumps(result, indent=2) + "\n")
    ms = result["ms_per_molecule"]
    lines = [
        "# Physicochemical properties and rules: cost per molecule",
        "",
        f"{len(texts)} approved drugs, one core, best of {args.rounds} alternating rounds "
        f"(RDKit {rdBase.rdkitVersion}).",
        "",
        "| step | ms / molecule |",
        "|---|---|",
        f"| chemistry step of a profile without the properties | {ms['without']:.2f} |",
        f"| chemistry step of a profile with them | {ms['with']:.2f} |",
        f"| added (difference of the two) | {result['added_ms_per_molecule']:.2f} |",
        f"| within it: the featurizer | {ms['features']:.2f} |",
        f"| within it: the properties (QED, SA score, what the features lack) | {ms['properties']:.2f} |",
    ]
    (RESULTS / "properties.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
