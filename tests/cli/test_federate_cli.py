"""The federation commands: key generation, data preparation errors, status, certificates, app folder."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedadmet.cli import app
from fedadmet.cli.common import console
from fedadmet.data.public import bundled_path
from fedadmet.workflows.federation import RunSettings

runner = CliRunner()


def keygen(tmp_path: Path) -> Path:
    key = tmp_path / "consortium.key"
    result = runner.invoke(app, ["federate", "keygen", "-o", str(key)])
    assert result.exit_code == 0, result.output
    return key


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    key = keygen(tmp_path)
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    again = runner.invoke(app, ["federate", "keygen", "-o", str(key)])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output


def test_prepare_names_the_row_with_an_unknown_unit(tmp_path: Path) -> None:
    table = tmp_path / "assays.csv"
    table.write_text(
        "compound_id,smiles,endpoint,relation,value,unit\nc1,CCO,Half_Life_Obach,=,2,h\nc2,CCN,Half_Life_Obach,=,3,weeks\n"
    )
    out = tmp_path / "prepared"
    result = runner.invoke(
        app, ["data", "prepare", str(table), "--key", str(keygen(tmp_path)), "--partner", "p", "-o", str(out)]
    )
    assert result.exit_code == 2
    assert "unknown unit 'weeks'" in result.output and "data row 2" in result.output
    assert not out.exists()


def test_prepare_tdc_file_needs_its_endpoint(tmp_path: Path) -> None:
    source = bundled_path("tdc_admet_group", "herg", "train_val.csv.gz")
    result = runner.invoke(
        app,
        ["data", "prepare", str(source), "--key", str(keygen(tmp_path)), "--partner", "p", "-o", str(tmp_path / "o")],
    )
    assert result.exit_code == 2 and "--endpoint" in result.output


def test_prepare_with_a_bad_key_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("zz")
    table = tmp_path / "a.csv"
    table.write_text("compound_id,smiles,endpoint,relation,value,unit\nc1,CCO,AMES,=,1,\n")
    result = runner.invoke(app, ["data", "prepare", str(table), "--key", str(bad), "--partner", "p", "-o", "x"])
    assert result.exit_code == 2 and "not a hex key" in result.output


def test_simulate_needs_prepared_folders(tmp_path: Path) -> None:
    result = runner.invoke(app, ["federate", "simulate", str(tmp_path), str(tmp_path / "other")])
    assert result.exit_code == 2 and "manifest.json missing" in result.output


def test_a_wrong_strategy_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    simulate = ["federate", "simulate", "a", "b"]
    deploy = ["federate", "app", "-o", str(tmp_path / "app"), "--partners", "3", "--key-id", "0123456789abcdef"]
    for command in (simulate, deploy):
        result = runner.invoke(app, [*command, "--strategy", "FedAvg"])
        assert result.exit_code == 2, result.output
        assert "--strategy 'FedAvg': Input should be 'fedavg', 'fedprox' or 'fedadam'" in result.output
        assert "pydantic.dev" not in result.output


def test_status_lists_runs_and_rejects_unknown_ids() -> None:
    listed = runner.invoke(app, ["federate", "status"])
    assert listed.exit_code == 0 and "strategy" in listed.output
    missing = runner.invoke(app, ["federate", "status", "42"])
    assert missing.exit_code == 2 and "no federation run 42" in missing.output


def test_certs_node_key_and_app_folder(tmp_path: Path) -> None:
    from cryptography import x509

    assert runner.invoke(app, ["federate", "certs", "-o", str(tmp_path / "certs")]).exit_code == 0
    server = x509.load_pem_x509_certificate((tmp_path / "certs" / "server.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / "certs" / "ca.crt").read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)

    assert runner.invoke(app, ["federate", "node-key", "site1", "-o", str(tmp_path / "keys")]).exit_code == 0
    assert (tmp_path / "keys" / "site1.pub").read_text().startswith("ecdsa-sha2-nistp384 ")

    command = ["federate", "app", "-o", str(tmp_path / "app"), "--partners", "4", "--rounds", "4"]
    result = runner.invoke(
        app, [*command, "--secagg-timeout", "90", "--key-id", "0123456789abcdef", "--min-partners", "3"]
    )
    assert result.exit_code == 0, result.output
    project = tomllib.loads((tmp_path / "app" / "pyproject.toml").read_text())
    assert project["tool"]["flwr"]["app"]["components"]["serverapp"] == "fedadmet.workflows.federation:server_app"
    run_config = project["tool"]["flwr"]["app"]["config"]
    assert run_config["num-partners"] == 4
    settings = RunSettings.from_run_config(run_config)
    assert settings.federation.secagg_stage_timeout_s == 90 and settings.federation.min_partners == 3
    assert settings.key_id == "0123456789abcdef"  # partners check it against their prepared data
    assert settings.run_id is None and RunSettings.from_run_config({**run_config, "resume-run": 7}).run_id == 7


def test_app_needs_a_key_id_and_enough_partners_for_secagg(tmp_path: Path) -> None:
    command = ["federate", "app", "-o", str(tmp_path / "app"), "--partners", "2"]
    missing = runner.invoke(app, command)
    assert missing.exit_code == 2 and "--key-id" in missing.output
    wrong = runner.invoke(app, [*command, "--key-id", "consortium"])
    assert wrong.exit_code == 2 and "16 hex characters" in wrong.output
    two = runner.invoke(app, [*command, "--key-id", "0123456789abcdef"])
    assert two.exit_code == 2 and "--no-secagg" in two.output and not (tmp_path / "app").exists()
    plain = runner.invoke(app, [*command, "--key-id", "0123456789abcdef", "--no-secagg"])
    assert plain.exit_code == 0, plain.output
    # SecAgg+ rebuilds a mask from the shares of fewer than all partners, and of at least two
    three = ["federate", "app", "-o", str(tmp_path / "app3"), "--partners", "3", "--key-id", "0123456789abcdef"]
    for minimum in ("3", "1"):
        refused = runner.invoke(app, [*three, "--min-partners", minimum])
        assert refused.exit_code == 2 and "must be at least 2 and below the 3 partners" in refused.output
    too_many = runner.invoke(app, [*three, "--no-secagg", "--min-partners", "4"])
    assert too_many.exit_code == 2 and "more than the 3 partners" in too_many.output
    # partners keep their model in a folder named after the run: the name must not be a path
    escaping = runner.invoke(app, [*three, "-o", str(tmp_path / "app4"), "--run-name", "../../x"])
    assert escaping.exit_code == 2 and "is or holds a path" in escaping.output and not (tmp_path / "app4").exists()


def test_certs_and_node_keys_are_not_overwritten_without_force(tmp_path: Path) -> None:
    certs = ["federate", "certs", "-o", str(tmp_path / "certs")]
    assert runner.invoke(app, certs).exit_code == 0
    ca = (tmp_path / "certs" / "ca.crt").read_bytes()
    again = runner.invoke(app, certs)
    assert again.exit_code == 2 and "--force" in again.output
    assert (tmp_path / "certs" / "ca.crt").read_bytes() == ca
    assert runner.invoke(app, [*certs, "--force"]).exit_code == 0
    assert (tmp_path / "certs" / "ca.crt").read_bytes() != ca

    node = ["federate", "node-key", "site1", "-o", str(tmp_path / "keys")]
    assert runner.invoke(app, node).exit_code == 0
    private = (tmp_path / "keys" / "site1").read_bytes()
    again = runner.invoke(app, node)
    assert again.exit_code == 2 and "--force" in again.output
    assert (tmp_path / "keys" / "site1").read_bytes() == private


def test_prepare_refuses_a_blank_partner_name(tmp_path: Path) -> None:
    table = tmp_path / "a.csv"
    table.write_text("compound_id,smiles,endpoint,relation,value,unit\nc1,CCO,AMES,=,1,\n")
    out = tmp_path / "prepared"
    result = runner.invoke(
        app, ["data", "prepare", str(table), "--key", str(keygen(tmp_path)), "--partner", "", "-o", str(out)]
    )
    assert result.exit_code == 2 and "partner name is empty" in result.output
    assert not out.exists()


def test_prepare_prints_the_whole_reference_hash_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fedadmet.federated import prepare

    digest = "0df56e733d7f9eaa4503e79e0d84d2182f6e1d774af9751300942bdf76509f9f"
    manifest = {"tasks": [], "n_compounds": 1, "key_id": "24435a5a7710a54e", "reference_hash": digest}
    monkeypatch.setattr(prepare, "prepare_partner", lambda *args, **kwargs: manifest)  # the printing is tested here
    monkeypatch.setattr(console, "_width", 40)  # narrower than the hash: it must still come out whole, ready to paste
    table = tmp_path / "a.csv"
    table.write_text("compound_id,smiles,endpoint,relation,value,unit\nc1,CCO,AMES,=,1,\n")
    result = runner.invoke(
        app,
        ["data", "prepare", str(table), "--key", str(keygen(tmp_path)), "--partner", "p", "-o", str(tmp_path / "o")],
    )
    assert result.exit_code == 0, result.output
    assert f"reference hash: {digest}\n" in result.output
    assert "warning: no task meets the quorum" in " ".join(result.output.split())  # one compound only


def test_status_says_whether_a_run_used_differential_privacy() -> None:
    from fedadmet.config import get_settings
    from fedadmet.federated.config import FederationConfig, PrivacyConfig
    from fedadmet.registry import repository
    from fedadmet.registry.database import open_registry

    config = FederationConfig(privacy=PrivacyConfig(enabled=True, noise_multiplier=1.5)).model_dump(mode="json")
    with open_registry(get_settings().registry_url).begin() as session:
        noisy = repository.start_run(session, "noisy", "fedavg", True, config).id
        running = repository.start_run(session, "running", "fedavg", True, config).id
        for number, epsilon in [(1, 0.5), (2, 0.75)]:
            repository.record_round(session, running, number, ["a", "b", "c"], {}, epsilon=epsilon)
        older = repository.start_run(session, "older", "fedavg", True, config).id  # before rounds kept ε
        repository.record_round(session, older, 1, ["a", "b", "c"], {})
        plain = repository.start_run(session, "plain", "fedavg", True, FederationConfig().model_dump(mode="json")).id
        published = repository.publish_version(
            session, "federated", kind="federated", artifact_uri="t", endpoints=[], metrics={"epsilon": 3.14159}
        )
        done = repository.start_run(session, "done", "fedavg", True, config)
        repository.finish_run(session, done.id, "completed", model_version_id=published.id)
        done_id = done.id
    assert "DP on: σ 1.5, clip 1.0, no round aggregated yet" in status_output(noisy)
    assert "DP on: σ 1.5, clip 1.0, ε not recorded for its rounds" in status_output(older)
    # a run still going shows the budget spent so far, per round too
    assert "DP on: σ 1.5, clip 1.0, ε 0.75 after round 2 at δ 1e-05" in status_output(running)
    assert "ε so far" in status_output(running) and "ε so far" not in status_output(noisy)
    assert "DP on: σ 1.5, clip 1.0, ε 3.14 at δ 1e-05" in status_output(done_id)
    assert "DP off" in status_output(plain)
    listing = status_output()
    assert "ε 3.14" in listing and "ε 0.75 after round 2" in listing and "off" in listing


def test_record_dp_options_are_checked_and_its_epsilon_shown_per_partner(tmp_path: Path) -> None:
    from fedadmet.config import get_settings
    from fedadmet.federated.config import FederationConfig
    from fedadmet.registry import repository
    from fedadmet.registry.database import open_registry

    simulate = ["federate", "simulate", "a", "b", "c", "--record-dp"]
    refused = runner.invoke(app, [*simulate, "--target-epsilon", "0"])
    assert refused.exit_code == 2 and "--target-epsilon 0.0: Input should be greater than 0" in refused.output
    both = runner.invoke(app, [*simulate, "--dp"])
    assert both.exit_code == 2 and "not both" in both.output
    config = FederationConfig(record_dp={"target_epsilon": 8.0}).model_dump(mode="json")
    with open_registry(get_settings().registry_url).begin() as session:
        run = repository.start_run(session, "record", "fedavg", True, config).id
        fit = {"fit": {"site_a": {"epsilon": 2.5, "delta": 1e-5}, "site_b": {"epsilon": 2.5, "delta": 1e-5}}}
        repository.record_round(session, run, 1, ["site_a", "site_b"], fit)
        fit["fit"]["site_a"]["epsilon"] = 3.75
        repository.record_round(session, run, 2, ["site_a"], {"fit": {"site_a": fit["fit"]["site_a"]}})
    shown = status_output(run)
    assert "target ε 8.0 at δ 1e-05" in shown and "site_a 3.75, site_b 2.50" in shown
    assert "record ε 3.75" in status_output()


def test_status_listing_keeps_whole_start_times_in_80_columns() -> None:
    from fedadmet.config import get_settings
    from fedadmet.registry import repository
    from fedadmet.registry.database import open_registry

    with open_registry(get_settings().registry_url).begin() as session:
        repository.start_run(session, "a-consortium-with-a-rather-long-name", "fedprox", True, {})
    listing = status_output(columns=80)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", listing), listing


def status_output(*run_id: int, columns: int = 250) -> str:
    result = runner.invoke(app, ["federate", "status", *map(str, run_id)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("command", "text"),
    [
        (["federate", "simulate"], "(default: simulation; resumed: its own)"),
        (["federate", "gain"], "(default: the best on validation of the runs this partner took part in without DP)"),
        (["predict"], "collide (default: the best on validation of the runs federated without DP)"),
    ],
)
def test_option_help_keeps_its_defaults(command: list[str], text: str) -> None:
    """Rich reads "[default: ...]" as markup and drops it: help must not lose what the default is."""
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "250"})
    assert text in " ".join(result.output.replace("│", " ").split())
