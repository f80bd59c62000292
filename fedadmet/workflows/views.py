"""What each user may see of federation runs, rounds and model versions: the partner visibility rules.

Partners share their metrics with the consortium's operator; they did not agree to show them to one
another. A user who belongs to a partner therefore sees that partner's own metrics, exclusions and
failures, and the consortium's mean; a user without a partner (the operator, the hosting site) sees every
partner's. A mean (or a sum, such as the bytes a round sent) is given only where at least
:data:`MIN_PARTNERS_FOR_MEAN` partners reported: from a mean over two, either partner could subtract
its own value and read the other's. A failed run's reason is the coordinator's; a partner sees only its
own failures, typed by partner, and only where no one else's ended the run too.

Runs, rounds and model versions leave the registry here as typed views with these rules applied, so that
the API, the CLI and the benchmarks show one and the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer

from fedadmet.federated.plan import PrivacyConfig
from fedadmet.registry import repository
from fedadmet.registry.tables import FederationRun, ModelVersion, as_utc
from fedadmet.workflows.store import Store

MIN_PARTNERS_FOR_MEAN = 3
HIDDEN_RUN_ERROR = "the run failed; its reason is shown to the operator"


def _score(value: Any) -> bool:
    """A finite number (flags and texts are not scores; NaN, e.g. a partner with nothing to score, is none)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _shown(metrics: dict[str, Any]) -> dict[str, Any]:
    """A partner's metrics as JSON can carry them: a NaN or infinite score becomes null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metrics.items()}


def consortium_mean(by_partner: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean over partners of each score that enough partners reported, and under ``partners`` how many
    reported each (empty when no score had enough)."""
    values: dict[str, list[float]] = {}
    for metrics in by_partner.values():
        for name, value in metrics.items():
            if _score(value):
                values.setdefault(name, []).append(float(value))
    enough = {name: numbers for name, numbers in values.items() if len(numbers) >= MIN_PARTNERS_FOR_MEAN}
    if not enough:
        return {}
    return {"partners": {name: len(numbers) for name, numbers in enough.items()}} | {
        name: sum(numbers) / len(numbers) for name, numbers in enough.items()
    }


def _own(by_partner: dict[str, dict[str, Any]], partner: str | None) -> dict[str, dict[str, Any]]:
    return {name: _shown(metrics) for name, metrics in by_partner.items() if partner is None or name == partner}


def round_view(
    metrics: dict[str, dict[str, dict[str, Any]]], excluded: dict[str, str], bytes_sent: int, partner: str | None
) -> dict[str, Any]:
    """A round's shared metrics (per stage: fit, evaluate), exclusions and bytes sent by the evaluating
    partners, as ``partner`` may see them (``None``: all of them)."""
    shown_exclusions = {name: why for name, why in excluded.items() if partner is None or name == partner}
    means = {stage: consortium_mean(by_partner) for stage, by_partner in metrics.items()}
    summed_over = len(metrics.get("evaluate", {}))
    return {
        "metrics": {stage: _own(by_partner, partner) for stage, by_partner in metrics.items()},
        "consortium_mean": {stage: mean for stage, mean in means.items() if mean},
        "excluded": shown_exclusions,
        "excluded_hidden": len(excluded) - len(shown_exclusions),
        "bytes_sent": bytes_sent if partner is None or summed_over >= MIN_PARTNERS_FOR_MEAN else None,
    }


def run_error_view(error: str, partner_failures: Sequence[dict[str, str]], partner: str | None) -> str:
    """A failed run's reason as ``partner`` may see it: the operator sees the coordinator's reason; a
    partner sees its own failures when they alone ended the run. Any other reason may name other partners
    or the coordinator's files (a reason cannot be checked for every name a partner might have), so it
    stays with the operator."""
    if partner is None or not error:
        return error
    if partner_failures and {failure["partner"] for failure in partner_failures} == {partner}:
        return "; ".join(f"{failure['stage']}: {failure['reason']}" for failure in partner_failures)
    return HIDDEN_RUN_ERROR


def version_metrics_view(kind: str, metrics: dict[str, Any], partner: str | None) -> dict[str, Any]:
    """A model version's metrics as ``partner`` may see them: a federated version holds each partner's
    shared metrics after the last round under ``partners``."""
    if kind != "federated":
        return metrics
    by_partner = metrics.get("partners") or {}
    return {**metrics, "partners": _own(by_partner, partner), "consortium_mean": consortium_mean(by_partner)}


# ISO 8601 in UTC with its offset (``+00:00``, as the API has always answered), whatever zone the store kept.
Timestamp = Annotated[datetime, AfterValidator(as_utc), PlainSerializer(datetime.isoformat, return_type=str)]
Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a longer list, and how long the whole list is."""

    items: list[Item]
    total: int


class RoundView(BaseModel):
    """One round of a run as a partner may see it (see :func:`round_view`)."""

    round: int
    partners: list[str]
    epsilon: float | None = Field(description="The DP budget spent up to this round (none: the run adds no noise).")
    metrics: dict[str, dict[str, dict[str, Any]]]
    consortium_mean: dict[str, dict[str, Any]]
    excluded: dict[str, str]
    excluded_hidden: int = Field(description="Partners excluded from the round whose reasons are not shown.")
    bytes_sent: int | None = Field(description="None where too few partners evaluated to show the sum.")


class RunView(BaseModel):
    """A federation run with its rounds as ``visible_to_partner``'s users may see it (none: the operator)."""

    id: int
    name: str
    strategy: str
    secagg: bool
    status: str
    error: str
    started: Timestamp
    finished: Timestamp | None
    model_version_id: int | None
    epsilon: float | None = Field(description="The DP budget its published model version spent.")
    visible_to_partner: str | None
    rounds: list[RoundView]
    # The run's DP settings: shown in words by the CLI (:func:`privacy_text`), not part of the API's answer.
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig, exclude=True)
    record_dp: dict[str, Any] | None = Field(
        default=None, description="Record-level DP at each partner: its target ε and δ (none: off)."
    )
    record_epsilon: dict[str, float] = Field(
        default_factory=dict,
        description="Under record-level DP, the ε each partner (as this user may see) reported spending so far.",
    )


class VersionView(BaseModel):
    """A model version as ``partner``'s users may see it: its metrics (see :func:`version_metrics_view`),
    and where its files lie only for the operator."""

    id: int
    model: str
    version: int
    kind: str
    serving: bool = Field(description="Whether this server answers with this version.")
    artifact_uri: str | None = Field(description="A path on the operator's server; none for a partner's user.")
    endpoints: list[Any]
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    created: Timestamp


RunPage = Page[RunView]


def run_view(run: FederationRun, partner: str | None = None) -> RunView:
    """``run`` (read with its rounds and published version) as ``partner``'s users may see it."""
    published = run.model_version.metrics if run.model_version is not None else {}
    rounds = [
        RoundView(
            round=r.round,
            partners=r.partners,
            epsilon=r.epsilon,
            **round_view(r.metrics, r.excluded, r.bytes_sent, partner),
        )
        for r in run.rounds
    ]
    return RunView(
        id=run.id,
        name=run.name,
        strategy=run.strategy,
        secagg=run.secagg,
        status=run.status,
        error=run_error_view(run.error, run.partner_failures, partner),
        started=run.started,
        finished=run.finished,
        model_version_id=run.model_version_id,
        epsilon=published.get("epsilon"),
        visible_to_partner=partner,
        rounds=rounds,
        privacy=PrivacyConfig.model_validate((run.config or {}).get("privacy") or {}),
        record_dp=(run.config or {}).get("record_dp") or None,
        record_epsilon=record_epsilon(rounds),
    )


def record_epsilon(rounds: Sequence[RoundView]) -> dict[str, float]:
    """The ε each partner last reported in its fit metrics (record-level DP at its site)."""
    spent: dict[str, float] = {}
    for row in sorted(rounds, key=lambda r: r.round):
        for partner, metrics in row.metrics.get("fit", {}).items():
            if "epsilon" in metrics:
                spent[partner] = float(metrics["epsilon"])
    return spent


def get_run(store: Store, run_id: int, partner: str | None = None) -> RunView | None:
    """One run as ``partner``'s users may see it; none where the registry has no such run."""
    with store() as session:
        run = repository.get_run(session, run_id)
        return run_view(run, partner) if run is not None else None


def list_runs(store: Store, partner: str | None = None, limit: int | None = None, offset: int = 0) -> RunPage:
    """Runs newest first (``limit`` from ``offset``; no limit: all), as ``partner``'s users may see them."""
    with store() as session:
        runs = repository.list_runs(session, limit, offset)
        return RunPage(items=[run_view(run, partner) for run in runs], total=repository.count_runs(session))


def version_view(version: ModelVersion, partner: str | None = None, serving_id: int | None = None) -> VersionView:
    """``version`` as ``partner``'s users may see it; ``serving_id``: the version this server answers with."""
    return VersionView(
        id=version.id,
        model=version.model.name,
        version=version.version,
        kind=version.kind,
        serving=version.id == serving_id,
        artifact_uri=version.artifact_uri if partner is None else None,
        endpoints=version.endpoints,
        metrics=version_metrics_view(version.kind, version.metrics, partner),
        lineage=version.lineage,
        created=version.created,
    )


def list_versions(store: Store, partner: str | None = None, serving_id: int | None = None) -> list[VersionView]:
    """Every model version, newest first, as ``partner``'s users may see them."""
    with store() as session:
        return [version_view(version, partner, serving_id) for version in repository.list_versions(session)]


def privacy_text(run: RunView, brief: bool = False) -> str:
    """The run's differential privacy in words: off, or on with its noise and clipping and the ε its model
    version published, or (still running, or failed) has spent so far; ``brief``: for one table cell."""
    privacy = run.privacy
    if run.record_dp:
        return record_dp_text(run, brief)
    if not privacy.enabled:
        return "off" if brief else "DP off"
    described = f"DP on: σ {privacy.noise_multiplier}, clip {privacy.clipping_norm}"
    latest = next((r for r in reversed(run.rounds) if r.epsilon is not None), None)
    if run.epsilon is not None:
        spent = f"ε {run.epsilon:.2f}"
    elif latest is not None:
        spent = f"ε {latest.epsilon:.2f} after round {latest.round}"
    elif any(r.partners for r in run.rounds):  # aggregated before rounds kept their budget
        return "on" if brief else f"{described}, ε not recorded for its rounds"
    else:
        return "on" if brief else f"{described}, no round aggregated yet"
    return spent if brief else f"{described}, {spent} at δ {privacy.delta:g}"


def record_dp_text(run: RunView, brief: bool = False) -> str:
    """Record-level DP in words: its target and the ε each partner reported spending so far (the most, brief)."""
    settings, spent = run.record_dp or {}, run.record_epsilon
    if brief:
        return f"record ε {max(spent.values()):.2f}" if spent else "record"
    described = (
        f"record-level DP at each partner: target ε {settings.get('target_epsilon')} at δ {settings.get('delta')}"
    )
    if not spent:
        return f"{described}, no partner reported ε yet"
    return f"{described}; ε spent: " + ", ".join(f"{p} {e:.2f}" for p, e in sorted(spent.items()))
