"""What each API user may see of a federation's shared metrics.

Partners share their metrics with the consortium's operator; they did not agree to show them to one
another. A user who belongs to a partner therefore sees that partner's own metrics and exclusions, and
the consortium's mean; a user without a partner (the operator, the hosting site) sees every partner's.
The mean is given only where at least :data:`MIN_PARTNERS_FOR_MEAN` partners reported a metric: from a
mean over two, either partner could subtract its own value and read the other's.
"""

from __future__ import annotations

from typing import Any

MIN_PARTNERS_FOR_MEAN = 3


def consortium_mean(by_partner: dict[str, dict[str, Any]]) -> dict[str, float | int]:
    """Mean over partners of each numeric metric that enough partners reported, with ``partners``: how
    many partners reported at all (empty when too few did)."""
    values: dict[str, list[float]] = {}
    for metrics in by_partner.values():
        for name, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.setdefault(name, []).append(float(value))
    means: dict[str, float | int] = {
        name: sum(numbers) / len(numbers) for name, numbers in values.items() if len(numbers) >= MIN_PARTNERS_FOR_MEAN
    }
    return {"partners": len(by_partner), **means} if means else {}


def _own(by_partner: dict[str, Any], partner: str | None) -> dict[str, Any]:
    return dict(by_partner) if partner is None else {k: v for k, v in by_partner.items() if k == partner}


def round_view(
    metrics: dict[str, dict[str, dict[str, Any]]], excluded: dict[str, str], partner: str | None
) -> dict[str, Any]:
    """A round's shared metrics (per stage: fit, evaluate) and exclusions as ``partner`` may see them
    (``None``: all of them)."""
    shown_exclusions = _own(excluded, partner)
    means = {stage: consortium_mean(by_partner) for stage, by_partner in metrics.items()}
    return {
        "metrics": {stage: _own(by_partner, partner) for stage, by_partner in metrics.items()},
        "consortium_mean": {stage: mean for stage, mean in means.items() if mean},
        "excluded": shown_exclusions,
        "excluded_hidden": len(excluded) - len(shown_exclusions),
    }


def version_metrics_view(metrics: dict[str, Any], partner: str | None) -> dict[str, Any]:
    """A model version's metrics as ``partner`` may see them: a federated version holds each partner's
    shared metrics after the last round under ``partners``."""
    if "partners" not in metrics:
        return metrics
    by_partner = metrics["partners"]
    return {**metrics, "partners": _own(by_partner, partner), "consortium_mean": consortium_mean(by_partner)}
