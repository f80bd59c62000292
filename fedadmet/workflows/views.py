"""What each user may see of federation runs, rounds and model versions: the partner visibility rules.

Partners share their metrics with the consortium's operator; they did not agree to show them to one
another. A user who belongs to a partner therefore sees that partner's own metrics, exclusions and
failures, and the consortium's mean; a user without a partner (the operator, the hosting site) sees every
partner's. A mean (or a sum, such as the bytes a round sent) is given only where at least
:data:`MIN_PARTNERS_FOR_MEAN` partners reported: from a mean over two, either partner could subtract
its own value and read the other's. A failed run's reason is the coordinator's; a partner sees only its
own failures, typed by partner, and only where no one else's ended the run too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

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
