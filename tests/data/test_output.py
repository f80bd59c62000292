"""Result files: checked before any work, written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedadmet.data.output import check_output_path, write_csv
from fedadmet.exceptions import InputError


def test_output_may_not_be_the_input_or_a_folder(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("smiles\nCCO\n")
    with pytest.raises(InputError, match="is the input file"):
        check_output_path(tmp_path / "." / "in.csv", source)
    with pytest.raises(InputError, match="is a folder"):
        check_output_path(tmp_path, source)
    check_output_path(tmp_path / "new" / "out.csv", source)
    assert (tmp_path / "new").is_dir()


def test_an_interrupted_write_leaves_the_old_file_and_no_partial_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.csv.gz"
    write_csv(pd.DataFrame({"a": [1, 2]}), path)
    assert pd.read_csv(path)["a"].tolist() == [1, 2]  # gzipped by its name

    def interrupted(self: pd.DataFrame, target: Path, **_: object) -> None:
        Path(target).write_text("a\n3\n")  # half written when Ctrl-C arrives
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_csv(pd.DataFrame({"a": [3, 4]}), path)
    monkeypatch.undo()
    assert pd.read_csv(path)["a"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv.gz"]
