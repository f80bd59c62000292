"""One contract suite over every FederatedTask: what the federation runtime relies on of a task.

Each check runs against every implementation (the molecular task on small real partner folders, the
clinical task on small synthetic OMOP CDM hospitals, and a tiny logistic regression on synthetic tables).
The last test is the proof that the runtime knows no molecules: the tiny task is federated by the same
Flower simulation engine, under SecAgg+, and recorded in the registry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedadmet.federated.config import FederationConfig
from fedadmet.federated.plan import FederationPlan
from fedadmet.federated.protocol import VALID_SCORE, FederatedTask, RoundInfo, get_task
from fedadmet.federated.tasks.molecular import MolecularTask
from tests.contracts.logistic_task import LogisticTask, write_partner
from tests.fl.partners import prepare_partners


@dataclass
class Case:
    task: FederatedTask
    partners: list[Path]
    options: dict[str, Any]


def molecular(root: Path) -> Case:
    options = FederationConfig(trunk={"hidden_sizes": (32, 16)}).model_dump(mode="json")
    return Case(MolecularTask(), prepare_partners(root), options)


def logistic(root: Path) -> Case:
    folders = [write_partner(root / f"site{i}", f"site: '{i}'", seed=i) for i in range(3)]  # colons, quotes: fine
    return Case(LogisticTask(), folders, {"learning_rate": 0.5, "local_steps": 5})


def clinical(root: Path) -> Case:
    from fedadmet.clinical import synthetic
    from fedadmet.clinical.federated_task import ClinicalTask
    from fedadmet.workflows import clinical as clinical_workflows

    spec = synthetic.SyntheticSpec(n_patients=600, n_hospitals=3, seed=5)
    folders = list(clinical_workflows.generate(root, spec).values())
    study = clinical_workflows.synthetic_study("febrile neutropenia")
    options = clinical_workflows.federation_options(folders, study, local_steps=5)
    return Case(ClinicalTask(), folders, json.loads(json.dumps(options)))  # as the coordinator sends them


CASES: dict[str, Callable[[Path], Case]] = {"molecular": molecular, "tiny-logistic": logistic, "clinical": clinical}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return CASES[request.param](tmp_path_factory.mktemp(request.param))


def info(case: Case, server_round: int = 1, trunk_round: int = 1) -> RoundInfo:
    return RoundInfo(server_round, "contract", 1, len(case.partners), case.options, trunk_round)


def test_the_task_is_registered_by_its_name(case: Case) -> None:
    assert type(get_task(case.task.name)) is type(case.task)


def test_initial_parameters_are_named_finite_arrays_made_without_data(case: Case) -> None:
    first, again = case.task.initial_parameters(case.options), case.task.initial_parameters(case.options)
    assert first and all(isinstance(v, np.ndarray) and np.isfinite(v).all() for v in first.values())
    assert sorted(first) == sorted(again) and all(np.array_equal(first[k], again[k]) for k in first)  # same start


def test_fit_returns_the_shared_arrays_finite_and_shaped_and_only_scalar_metrics(case: Case) -> None:
    start = case.task.initial_parameters(case.options)
    session = case.task.open_partner(case.partners[0], case.options, {})
    result = session.fit(start, info(case))
    assert sorted(result.parameters) == sorted(start)
    assert all(result.parameters[k].shape == start[k].shape for k in start)
    assert all(np.isfinite(v).all() for v in result.parameters.values())
    assert any(not np.array_equal(result.parameters[k], start[k]) for k in start)  # it trained
    assert result.num_examples > 0
    assert all(isinstance(v, int | float | str) for v in result.metrics.values())  # aggregates, never records
    assert not set(result.private) & set(start)  # private arrays never share a name with the sent ones
    json.dumps(result.metrics)


def test_a_session_goes_on_from_the_private_arrays_its_node_kept(case: Case) -> None:
    start = case.task.initial_parameters(case.options)
    first = case.task.open_partner(case.partners[0], case.options, {}).fit(start, info(case))
    later = case.task.open_partner(case.partners[0], case.options, first.private)
    assert sorted(later.fit(first.parameters, info(case, 2)).parameters) == sorted(start)


def test_evaluate_scores_the_validation_part_and_keep_writes_inside_the_partner(case: Case, tmp_path: Path) -> None:
    import shutil

    folder = shutil.copytree(case.partners[0], tmp_path / "partner")
    session = case.task.open_partner(folder, case.options, {})
    start = case.task.initial_parameters(case.options)
    evaluation = session.evaluate(start, info(case))
    assert evaluation.num_examples > 0 and isinstance(evaluation.metrics[VALID_SCORE], float)
    before = set(tmp_path.rglob("*"))
    session.keep(start, info(case), evaluation)
    written = set(tmp_path.rglob("*")) - before
    assert written and all(folder in p.parents for p in written)


def test_partners_are_named_and_one_name_twice_is_refused(case: Case) -> None:
    from fedadmet.exceptions import InputError

    names = case.task.check_partners(case.partners).names
    assert names == [case.task.partner_name(p) for p in case.partners] and len(set(names)) == len(names)
    with pytest.raises(InputError, match="letter case aside"):
        case.task.check_partners([case.partners[0], case.partners[0]])


def test_the_runtime_imports_no_chemistry_model_data_or_registry() -> None:
    script = (
        "import sys\n"
        "import fedadmet.federated.server_app, fedadmet.federated.client_app, fedadmet.federated.simulation\n"
        "import fedadmet.federated.strategy, fedadmet.federated.checkpoints, fedadmet.federated.protocol\n"
        "rooms = ('fedadmet.chem', 'fedadmet.models', 'fedadmet.data', 'fedadmet.registry', 'torch')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(rooms))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


@pytest.mark.slow
def test_a_task_that_knows_no_molecules_federates_under_secagg_and_is_recorded(tmp_path: Path) -> None:
    from fedadmet.workflows.federation import RunSettings, simulate

    case = logistic(tmp_path / "sites")
    plan = FederationPlan(rounds=2, secagg=True, **case.options)
    settings = RunSettings(
        run_name="tiny",
        n_partners=3,
        federation=plan,
        checkpoint_dir=tmp_path / "checkpoints",
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
        model_name="tiny-logistic",
    )
    run = simulate(case.partners, settings, task=case.task)
    assert run.status == "completed", run.error
    assert run.secagg and [r.round for r in run.rounds] == [1, 2]
    names = sorted(case.task.partner_name(p) for p in case.partners)
    assert all(r.partners == names for r in run.rounds)
    assert set(run.rounds[-1].metrics["evaluate"]) == set(names)
    assert all(m[VALID_SCORE] > 0.7 for m in run.rounds[-1].metrics["evaluate"].values())  # it learned
    version = run.model_version
    assert version is not None and version.kind == "federated" and version.lineage["task"] == "tiny-logistic"
    assert version.lineage["rounds"] == 2 and version.lineage["trunk_parameters"] == 5
    assert all((p / "kept" / f"run-{run.id}.json").is_file() for p in case.partners)  # each partner kept its own


@pytest.mark.slow
def test_a_failing_partner_is_recorded_under_its_name_as_a_typed_record(tmp_path: Path) -> None:
    """A partner whose data cannot be read fails each round; the real Flower runtime carries its typed
    failure record to the registry, named as the partner is (colons and quotes included), without local
    paths, and that partner's user sees its own exclusion."""
    from fedadmet.workflows.federation import RunSettings, simulate
    from fedadmet.workflows.views import round_view

    case = logistic(tmp_path / "sites")
    broken = write_partner(tmp_path / "sites" / "site3", "site: '3'", seed=3)
    (broken / "table.npz").unlink()
    plan = FederationPlan(rounds=1, secagg=False, min_partners=3, **case.options)
    settings = RunSettings(
        run_name="tiny-failing",
        n_partners=4,
        federation=plan,
        checkpoint_dir=tmp_path / "checkpoints",
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
    )
    run = simulate([*case.partners, broken], settings, require_secagg=False, task=case.task)
    assert run.status == "completed", run.error
    (only,) = run.rounds
    assert "site: '3'" not in only.partners and len(only.partners) == 3
    reason = only.excluded["site: '3'"]
    assert reason.startswith("FileNotFoundError") and str(broken) not in reason
    seen = round_view(only.metrics, only.excluded, only.bytes_sent, "site: '3'")
    assert seen["excluded"] == {"site: '3'": reason} and seen["excluded_hidden"] == 0
