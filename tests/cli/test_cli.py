import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from fedadmet.cli import app
from fedadmet.data.public import bundled_path

runner = CliRunner()


def _predict(tmp_path: Path, model: Path, content: bytes, name: str = "in.csv", *extra: str):
    source = tmp_path / name
    source.write_bytes(content)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", str(source), "-o", str(out), "--model", str(model), *extra])
    return result, out


def test_predict_writes_errors_for_bad_rows_and_predictions_for_the_rest(tmp_path: Path, tiny_model_dir: Path) -> None:
    content = b"id,smiles\nm1,CCO\nm2,C1CC(\nm3,\nm4,c1ccccc1O\n"
    result, out = _predict(tmp_path, tiny_model_dir, content)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert frame["id"].tolist() == ["m1", "m2", "m3", "m4"]
    assert frame["error"].notna().tolist() == [False, True, True, False]
    assert frame.loc[[0, 3], "hERG"].notna().all()
    assert "row 2" in result.output and "row 3" in result.output


def test_predict_reads_sdf(tmp_path: Path, tiny_model_dir: Path) -> None:
    from rdkit import Chem

    path = tmp_path / "in.sdf"
    with Chem.SDWriter(str(path)) as writer:
        for smiles in ("CCO", "c1ccccc1"):
            writer.write(Chem.MolFromSmiles(smiles))
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", str(path), "-o", str(out), "--model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["hERG"].notna().all()


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b"", (), "is empty"),
        (b"smiles\n", (), "no data rows"),
        (b"name,structure\na,CCO\n", (), "no SMILES column"),
        (b"id,smiles\na,CCO\n", ("--smiles-column", "mol"), "'mol' not found"),
        (b"smiles\nC\xe9\n", (), "not UTF-8"),
    ],
)
def test_unusable_input_exits_non_zero_with_a_clear_message(
    tmp_path: Path, tiny_model_dir: Path, content: bytes, extra: tuple[str, ...], message: str
) -> None:
    result, out = _predict(tmp_path, tiny_model_dir, content, "in.csv", *extra)
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_input_where_no_row_is_usable_exits_non_zero(tmp_path: Path, tiny_model_dir: Path) -> None:
    result, out = _predict(tmp_path, tiny_model_dir, b"smiles\nxyz\n" + b"C" * 500 + b"\n")
    assert result.exit_code == 1
    assert "no row" in result.output
    assert pd.read_csv(out)["error"].notna().all()


def test_missing_model_is_reported(tmp_path: Path) -> None:
    result, _ = _predict(tmp_path, tmp_path / "nowhere", b"smiles\nCCO\n")
    assert result.exit_code == 2
    assert "model.json" in result.output and "nowhere" in result.output


def test_train_on_a_folder_then_predict(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "herg").mkdir(parents=True)
    herg = pd.read_csv(bundled_path("tdc_admet_group", "herg", "train_val.csv.gz")).head(120)
    herg.to_csv(data / "herg" / "train_val.csv", index=False)
    extra = pd.DataFrame({"smiles": herg["Drug"].head(30), "blocker": herg["Y"].head(30), "notes": "x"})
    extra.iloc[::-1].to_csv(data / "in_house.csv", index=False)  # a wide table of the lab's own, named its way
    model_dir = tmp_path / "model"
    command = ["train", str(data), "-o", str(model_dir), "--gbm-iterations", "25", "--no-side-tasks"]
    result = runner.invoke(app, [*command, "--label", "blocker=hERG"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "in_house.csv: blocker → hERG" in result.output and "train_val.csv: Y → hERG" in result.output
    assert "in_house.csv: ignored column(s) notes" in result.output
    assert "150 labelled rows" in result.output
    card = json.loads((model_dir / "model.json").read_text())
    validation = card["heads"]["hERG"]["validation"]
    herg_row = next(line for line in result.output.splitlines() if "roc-auc" in line)  # the validation table
    assert "hERG" in herg_row and f"{validation['blend']:.3f}" in herg_row
    assert "now the default" not in result.output  # only training without -o replaces the default model
    assert list(card["heads"]) == ["hERG"]
    assert card["auxiliary"] is None
    assert card["config"]["gbm"]["iterations"] == 25
    assert len(card["metadata"]["data_sha256"]["hERG"]) == 64


def test_train_rejects_a_file_without_known_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "assay.csv"
    path.write_text("smiles,potency\nCCO,1\n")
    result = runner.invoke(app, ["train", str(path)])
    assert result.exit_code == 2
    assert "label column" in result.output and "--label" in result.output
    malformed = runner.invoke(app, ["train", str(path), "--label", "potency"])
    assert malformed.exit_code == 2 and "'potency'" in malformed.output and "COLUMN=ENDPOINT" in malformed.output
    without_data = runner.invoke(app, ["train", "--label", "potency=hERG"])
    assert without_data.exit_code == 2 and "--label" in without_data.output


def test_qc_reports_rejects_and_conflicts(tmp_path: Path) -> None:
    path = tmp_path / "herg.csv"
    path.write_text("Drug_ID,Drug,Y\na,CCO,1\nb,OCC,0\nc,bad(,1\n")
    result = runner.invoke(app, ["data", "qc", str(path), "--endpoint", "hERG"], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    assert "rejected: 1" in result.output
    assert "conflicting duplicates" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("|")]
    assert rows and all(line.endswith("|") for line in rows)  # Markdown rows are not wrapped at the terminal


def test_qc_finds_label_columns_in_any_spelling_of_an_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("smiles,herg,notes\nCCO,1,a\nCCN,0,b\nc1ccccc1,1,c\n")
    result = runner.invoke(app, ["data", "qc", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    herg_row = next(line for line in result.output.splitlines() if line.startswith("| herg "))
    assert [cell.strip() for cell in herg_row.strip("|").split("|")][:4] == ["herg", "hERG", "classification", "3"]


def test_endpoints_lists_the_catalogue_with_whole_names_also_when_piped() -> None:
    result = runner.invoke(app, ["endpoints"], env={"COLUMNS": "80"})  # not a terminal: a file or a pipe
    assert result.exit_code == 0 and "…" not in result.output
    lines = result.output.splitlines()
    for name in ("Caco2_Wang", "SR-p53", "CYP2C9_Substrate_CarbonMangels", "Lipophilicity_AstraZeneca"):
        assert any(f"│ {name} " in line for line in lines)  # whole, on one line, as --label takes it


def test_keys_are_listed_by_prefix_and_revoked_whole_or_by_prefix() -> None:
    made = [runner.invoke(app, ["keys", "create", user]).output.split()[-1] for user in ("ana", "ben")]
    listing = runner.invoke(app, ["keys", "list"])
    assert listing.exit_code == 0 and made[0][:8] in listing.output and made[1][:8] in listing.output
    assert made[0] not in listing.output  # only prefixes are shown
    assert runner.invoke(app, ["keys", "revoke", made[0][:6]]).exit_code == 1  # too short to name one key
    assert runner.invoke(app, ["keys", "revoke", made[0]]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", made[1][:8]]).exit_code == 0
    assert runner.invoke(app, ["keys", "list"]).output.count("revoked") == 2


def test_a_key_can_belong_to_a_federation_partner() -> None:
    made = runner.invoke(app, ["keys", "create", "carla", "--partner", "site_b"], env={"COLUMNS": "200"})
    assert made.exit_code == 0 and "sees partner site_b" in made.output
    assert "warning" in made.output and "'site_b'" in made.output  # no run knows the partner yet: a typo?
    listing = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "200"}).output
    assert next(line for line in listing.splitlines() if "carla" in line).count("site_b") == 1
    another = runner.invoke(app, ["keys", "create", "carla"], env={"COLUMNS": "200"})  # the user's partner stays
    assert another.exit_code == 0 and "sees partner site_b" in another.output
    moved = runner.invoke(app, ["keys", "create", "carla", "--partner", "site_c"], env={"COLUMNS": "200"})
    assert moved.exit_code == 2 and "'carla'" in moved.output and "'site_b'" in moved.output


def test_a_partner_key_named_in_other_letter_case_is_pointed_to_the_recorded_name() -> None:
    from fedadmet.config import get_settings
    from fedadmet.registry import repository
    from fedadmet.registry.database import open_registry

    with open_registry(get_settings().registry_url).begin() as session:
        run = repository.start_run(session, "consortium", "fedavg", True, {})
        repository.record_round(session, run.id, 1, ["Site_B", "site_c"], {})
    made = runner.invoke(app, ["keys", "create", "dora", "--partner", "site_b"], env={"COLUMNS": "300"})
    assert made.exit_code == 0
    assert "warning" in made.output and "'Site_B'" in made.output  # the name recorded, in its own case
    recorded = runner.invoke(app, ["keys", "create", "emil", "--partner", "site_c"], env={"COLUMNS": "300"})
    assert recorded.exit_code == 0 and "warning" not in recorded.output


def test_predict_refuses_an_output_it_would_not_write_as_named(tmp_path: Path, tiny_model_dir: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("smiles\nCCO\n")
    result = runner.invoke(
        app, ["predict", str(source), "-o", str(tmp_path / "out.xlsx"), "--model", str(tiny_model_dir)]
    )
    assert result.exit_code != 0 and ".csv or .csv.gz" in result.output
    assert not (tmp_path / "out.xlsx").exists()


def test_predict_refuses_to_overwrite_its_input_before_any_work(tmp_path: Path, tiny_model_dir: Path) -> None:
    source = tmp_path / "mols.csv"
    source.write_text("smiles\nCCO\n")
    result = runner.invoke(app, ["predict", str(source), "-o", str(source), "--model", str(tiny_model_dir)])
    assert result.exit_code == 2 and "input file" in result.output
    assert source.read_text() == "smiles\nCCO\n"


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    source = tmp_path / "mols.csv"
    source.write_text("smiles\nCCO\n")
    command = [sys.executable, "-c", "from fedadmet.cli import app; app()", "predict", str(source), "-o", "o.csv"]
    environment = os.environ | {"FEDADMET_PROGRESS": "maybe"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: FEDADMET_PROGRESS='maybe'") and "Traceback" not in result.stderr


def test_predict_is_a_filter_from_standard_input_to_standard_output(tiny_model_dir: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from fedadmet.cli import app; app()", "predict", "-", "-o", "-"]
    result = subprocess.run(
        [*command, "--model", str(tiny_model_dir)],
        input="CCO ethanol\nC1CC( broken\nc1ccccc1O phenol\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))  # the table alone: every message went to standard error
    assert frame["name"].tolist() == ["ethanol", "broken", "phenol"]
    assert frame["error"].notna().tolist() == [False, True, False] and frame.loc[[0, 2], "hERG"].notna().all()
    assert "2 of 3" in result.stderr and "row 2:" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "column"),
    [
        ("id,SMILES\nm1,CCO\nm2,c1ccccc1\n", "id"),  # a table: its header names the SMILES column
        ('"id"\t"Canonical SMILES"\nm1\tCCO\nm2\tc1ccccc1\n', "id"),
        ("CCO m1\nc1ccccc1 m2\n", "name"),  # SMILES lines
        ("CCO\tm1\nc1ccccc1\tm2\n", "name"),
        ("CCO\nc1ccccc1\n", None),
    ],
)
def test_standard_input_is_read_as_what_it_holds(content: str, column: str | None, tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["predict", "-", "-o", "-", "--model", str(tiny_model_dir)], input=content)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert frame["smiles"].tolist() == ["CCO", "c1ccccc1"]
    if column is not None:
        assert frame[column].tolist() == ["m1", "m2"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("compound,structure\nA,CCO\n", "no SMILES column"),
        ("CCO,ethanol\nCCN,ethylamine\n", "no header line"),
        ("CCO\x00\x01\x02\n", "binary"),
    ],
)
def test_standard_input_that_is_a_table_is_explained_as_one(content: str, message: str, tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["predict", "-", "-o", "-", "--model", str(tiny_model_dir)], input=content)
    assert result.exit_code == 2 and message in result.output


def test_gzipped_standard_input_is_read(tiny_model_dir: Path) -> None:
    packed = gzip.compress(b"smiles,id\nCCO,m1\n")
    result = runner.invoke(app, ["predict", "-", "-o", "-", "--model", str(tiny_model_dir)], input=packed)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(io.StringIO(result.stdout))["id"].tolist() == ["m1"]


def test_standard_input_as_sd_records(tiny_model_dir: Path, tmp_path: Path) -> None:
    from rdkit import Chem

    with Chem.SDWriter(str(tmp_path / "in.sdf")) as writer:
        for name, smiles in (("ethanol", "CCO"), ("benzene", "c1ccccc1")):
            molecule = Chem.MolFromSmiles(smiles)
            molecule.SetProp("_Name", name)
            writer.write(molecule)
    out = tmp_path / "out.csv"
    stdin = (tmp_path / "in.sdf").read_text()
    result = runner.invoke(app, ["predict", "-", "-o", str(out), "--model", str(tiny_model_dir)], input=stdin)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["name"].tolist() == ["ethanol", "benzene"]


def test_positional_arguments_are_explained_in_help() -> None:
    result = runner.invoke(app, ["predict", "--help"], env={"COLUMNS": "200"})
    assert all(kind in result.output for kind in ("CSV/TSV", ".smi", ".sdf"))


def test_train_refuses_a_folder_of_other_files_before_training(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep me")
    result = runner.invoke(app, ["train", str(tmp_path / "missing.csv"), "-o", str(notes)])
    assert result.exit_code == 2 and "no model" in result.output  # not the missing data first
    assert (notes / "mine.txt").read_text() == "keep me"


def test_validation_table_shows_a_head_that_could_not_be_scored(tiny_model_dir: Path) -> None:
    from fedadmet.cli.core import _validation_table
    from fedadmet.models.artifacts import load_model

    model = load_model(tiny_model_dir)
    model.heads["hERG"].validation = {}  # a one-class validation part
    console = Console(file=io.StringIO(), width=200)
    console.print(_validation_table(model))
    herg_row = next(line for line in console.file.getvalue().splitlines() if "hERG" in line)
    assert "not scored" in herg_row


def test_qc_points_a_long_assay_table_to_prepare(tmp_path: Path) -> None:
    path = tmp_path / "assays.csv"
    path.write_text("compound_id,smiles,endpoint,relation,value,unit\nc1,CCO,hERG,=,1,\nc1,CCO,LogD,=,2.1,\n")
    result = runner.invoke(app, ["data", "qc", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "long assay table" in result.output and "data prepare" in result.output


def test_serve_on_a_port_in_use_says_so_before_loading_anything() -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 2
    assert f"127.0.0.1:{port}" in result.output and "in use" in result.output
    assert "loading the model" not in result.output


def test_heavy_atom_limit_set_in_the_environment_reaches_predict(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fedadmet.config import get_settings

    monkeypatch.setenv("FEDADMET_MAX_HEAVY_ATOMS", "5")
    get_settings.cache_clear()
    result, out = _predict(tmp_path, tiny_model_dir, b"id,smiles\nsmall,CCCCC\nlarge,CCCCCC\n")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert frame["error"].isna().tolist() == [True, False]
    assert "6 heavy atoms" in frame.loc[1, "error"]
    assert pd.notna(frame.loc[0, "hERG"]) and pd.isna(frame.loc[1, "hERG"])


def test_predict_writes_only_the_chosen_endpoints_and_names_an_unknown_one(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    result, out = _predict(tmp_path, tiny_model_dir, b"smiles\nCCO\n", "in.csv", "--endpoints", "hERG")
    assert result.exit_code == 0, result.output
    columns = pd.read_csv(out).columns
    assert "hERG" in columns and not any(column.startswith("Caco2_Wang") for column in columns)
    result, _ = _predict(tmp_path, tiny_model_dir, b"smiles\nCCO\n", "in.csv", "--endpoints", "hERG, LD50_Zhu")
    assert result.exit_code == 2 and "'LD50_Zhu'" in result.output


def test_a_missing_smiles_column_is_named_as_the_cli_option(tmp_path: Path, tiny_model_dir: Path) -> None:
    result, _ = _predict(tmp_path, tiny_model_dir, b"name,structure\na,CCO\n")
    assert result.exit_code == 2 and "--smiles-column" in result.output
    assert "smiles_column" not in result.output  # the Python parameter's name means nothing at a shell


def test_help_read_from_a_pipe_is_not_squeezed_into_80_columns() -> None:
    command = [sys.executable, "-c", "from fedadmet.cli import app; app()", "predict", "--help"]
    environment = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "TERMINAL_WIDTH"}}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)  # into a pipe
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and max(map(len, lines)) > 100  # rich alone would use 80 columns
    assert any("Only these endpoints, comma-separated, as `fedadmet endpoints` names them" in line for line in lines)
