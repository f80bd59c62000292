"""Write the bundled InChIKeys of the external validation sets, which the served default model never trains on.

    .venv/bin/python scripts/external_validation_keys.py [--data-dir ../shared/data]

Reads OpenADMET ExpansionRx and both ASAP antiviral 2025 files (ADMET and potency) from the shared data
folder, standardises every SMILES as training data is standardised, and writes the sorted InChIKeys of
the parents to fedadmet/data/bundled/external_validation_inchikeys.txt.gz. Only the keys are bundled.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

from fedadmet.chem.standardize import inchikeys, standardize_many
from fedadmet.data.loaders import read_table
from fedadmet.data.public import EXTERNAL_VALIDATION_KEYS, bundled_path

REPO = Path(__file__).resolve().parents[1]
SETS = {
    "openadmet_expansionrx/expansion_data_train.csv": "SMILES",
    "asap_antiviral_2025/antiviral_admet_2025_unblinded.csv": "CXSMILES",
    "asap_antiviral_2025/antiviral_potency_2025_unblinded.csv": "CXSMILES",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    keys: set[str] = set()
    for path, column in SETS.items():
        batch = standardize_many(read_table(args.data_dir / path)[column])
        found = set(inchikeys(batch.valid_smiles))
        print(f"{path}: {len(found)} molecules ({len(batch.rejects)} rows not standardised)")
        keys |= found
    text = "".join(f"{key}\n" for key in sorted(keys)).encode()
    bundled_path(EXTERNAL_VALIDATION_KEYS).write_bytes(gzip.compress(text, mtime=0))  # same keys, same bytes
    print(f"{len(keys)} keys written")


if __name__ == "__main__":
    main()
