"""The tour's example table: a refused molecule is listed once, with its whole reason."""

import numpy as np
import pandas as pd
from rich.console import Console

from fedadmet.workflows.demo import example_table
from fedadmet.workflows.profiling import ALERTS_COLUMN, DOMAIN_COLUMN, ERROR_COLUMN, IN_DOMAIN_COLUMN

LONG_REASON = "text after the SMILES 'CCO': 'ethanol, absolute' (a name belongs in its own column) [C+999]"


def test_a_refused_molecule_is_listed_once_with_its_whole_reason() -> None:
    rows = 14
    frame = pd.DataFrame(
        {
            "name": [f"mol-{i:02d}" for i in range(rows)],
            "hERG": np.linspace(0, 1, rows),
            DOMAIN_COLUMN: 0.5,
            IN_DOMAIN_COLUMN: True,
            ALERTS_COLUMN: "",
            ERROR_COLUMN: None,
        }
    )
    frame.loc[2, ERROR_COLUMN] = LONG_REASON  # among the first rows shown
    frame.loc[13, ERROR_COLUMN] = "SMILES is empty"  # after them: added at the end
    console = Console(width=400, record=True)
    console.print(example_table(frame, ["hERG"]))
    text = console.export_text()
    assert text.count("mol-02") == 1 and text.count("mol-13") == 1
    assert LONG_REASON in text  # not cut at 60 characters, its brackets not read as markup
    assert "mol-12" not in text  # beyond the first twelve, only refusals
