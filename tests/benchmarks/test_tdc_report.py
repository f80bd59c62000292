"""The TDC benchmark's written results: the JSON's win counts are the table's, seed by seed."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.tdc.run import REFERENCES, write_results


def test_the_json_holds_the_win_counts_of_the_table_written_with_it(tmp_path: Path) -> None:
    chemprop_mae = REFERENCES["caco2_wang"][0]
    meta = {
        "seeds": [1, 2],
        "seeds_done": [1],
        "command": "python -m benchmarks.tdc.run",
        "wall_minutes": 1.0,
        "machine": "test",
        "ablation_means": {"caco2_wang": {"gbm_only": 0.3, "trunk_only": 0.4}},
        "wins": {"chemprop": 0, "maplight": 0, "best": 0},  # what an earlier seed left
    }
    better = {"caco2_wang": {"metric": "mae", "mean": chemprop_mae - 0.01, "std": 0.0, "seeds": [chemprop_mae - 0.01]}}
    write_results(better, meta, tmp_path, "tdc")
    written = json.loads((tmp_path / "tdc.json").read_text())["meta"]["wins"]
    assert written["chemprop"] == 1
    assert "better than Chemprop-RDKit on **1/1**" in (tmp_path / "tdc.md").read_text()
