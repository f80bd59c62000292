"""A CReM fragment database built here from public molecules (no download): fragment each molecule,
write each fragment with its radius-3 context, count how often each context/fragment pair occurs, and
store the counts in CReM's SQLite layout. ~1,700 drug molecules take about five minutes on one core.

CReM's own command-line steps fork a worker pool even for one core; a fork taken while PyTorch or tqdm
threads run can deadlock, so the steps run here through CReM's per-line functions: in this process for
one job, in a spawned pool (fresh interpreters, no inherited locks) for more."""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

RADIUS = 3
MAX_FRAGMENT_ATOMS = 10  # the largest fragment a mutation may bring in
_CONTEXT_OPTIONS = (None, RADIUS, False, MAX_FRAGMENT_ATOMS, False, ",")  # crem frag_to_env_mp.init's arguments


def build_fragment_database(smiles: Sequence[str], target: Path, n_jobs: int = 1) -> Path:
    """Build ``target`` from ``smiles`` (canonical, one fragment each), written whole or not at all."""
    from crem import frag_to_env_mp, fragmentation, import_env_to_db

    cut = partial(fragmentation.process_line, sep="\t", mode=0, sep_out=",")
    molecules = [f"{text}\t{index}" for index, text in enumerate(smiles)]
    fragments = [line for lines in _map(cut, molecules, n_jobs) for line in sorted(lines)]
    contexts = _map(frag_to_env_mp.process_line, fragments, n_jobs, setup=(frag_to_env_mp.init, _CONTEXT_OPTIONS))
    counts = Counter(",".join(map(str, item)) for items in contexts for item in items if item)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        work = Path(folder)
        (work / "counted.txt").write_text("".join(f"{count} {line}\n" for line, count in sorted(counts.items())))
        import_env_to_db.main(str(work / "counted.txt"), str(work / "fragments.db"), RADIUS, True, 1, False)
        shutil.move(work / "fragments.db", target)
    return target


def _map(function: Callable, items: Iterable, n_jobs: int, setup: tuple[Callable, tuple] | None = None) -> list:
    """``function`` over ``items`` in order, after ``setup`` (an initializer and its arguments): here for one
    job, else in a spawned pool whose workers each run the setup first."""
    initializer, arguments = setup if setup is not None else (None, ())
    if n_jobs <= 1:
        if initializer is not None:
            initializer(*arguments)
        return [function(item) for item in items]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n_jobs, mp_context=context, initializer=initializer, initargs=arguments) as pool:
        return list(pool.map(function, items, chunksize=200))
