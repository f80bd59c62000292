"""A CReM fragment database built here from public molecules (no download): fragment each molecule,
write each fragment with its radius-3 context, count how often each context/fragment pair occurs, and
store the counts in CReM's SQLite layout. ~1,700 drug molecules take about five minutes on one core."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

RADIUS = 3
MAX_FRAGMENT_ATOMS = 10  # the largest fragment a mutation may bring in


def build_fragment_database(smiles: Sequence[str], target: Path, n_jobs: int = 1) -> Path:
    """Build ``target`` from ``smiles`` (canonical, one fragment each), written whole or not at all."""
    from crem import frag_to_env_mp, fragmentation, import_env_to_db

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        work = Path(folder)
        (work / "molecules.smi").write_text("".join(f"{text}\t{index}\n" for index, text in enumerate(smiles)))
        fragmentation.main(str(work / "molecules.smi"), str(work / "fragments.txt"), 0, "\t", n_jobs, ",", False)
        frag_to_env_mp.main(
            str(work / "fragments.txt"),
            str(work / "environments.txt"),
            None,
            RADIUS,
            False,
            MAX_FRAGMENT_ATOMS,
            n_jobs,
            False,
            ",",
            False,
        )
        counts = Counter((work / "environments.txt").read_text().splitlines())
        (work / "counted.txt").write_text("".join(f"{count} {line}\n" for line, count in sorted(counts.items())))
        import_env_to_db.main(str(work / "counted.txt"), str(work / "fragments.db"), RADIUS, True, 1, False)
        shutil.move(work / "fragments.db", target)
    return target
