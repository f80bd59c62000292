"""The coordinator's strategy: Flower's FedAvg, FedProx or FedAdam, plus the jobs a consortium needs.

:class:`RecordingStrategy` wraps the chosen legacy strategy (as Flower's DP wrappers do) and adds one
method per job: each round's instructions (:meth:`round_config`), refusing one partner counted twice
(:meth:`check_partner_names`), excluding non-finite updates (:meth:`usable_updates`), refusing an
aggregate of fewer than the quorum (:meth:`below_quorum`) or a non-finite one (:meth:`finite_aggregate`),
checkpointing (:meth:`checkpoint`) and recording through a :class:`~fedadmet.federated.recorder.RunRecorder`
(:meth:`record_fit`, :meth:`aggregate_evaluate`). Legacy strategies are used because Flower 1.41's
SecAgg+ workflow exists only for them.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from flwr.common import (
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAdam, FedAvg, FedProx, Strategy

from fedadmet.federated.checkpoints import Checkpoint
from fedadmet.federated.failures import PartnerFailure, failures_by_partner
from fedadmet.federated.privacy import spent_epsilon
from fedadmet.federated.recorder import EvaluationRound, FitRound, RunRecorder
from fedadmet.names import check_distinct_partners

if TYPE_CHECKING:
    from fedadmet.federated.coordinator import RunSettings

log = logging.getLogger("fedadmet.federation")
STRATEGIES: dict[str, type[FedAvg]] = {"fedavg": FedAvg, "fedprox": FedProx, "fedadam": FedAdam}
NOT_FINITE_UPDATE = "update holds NaN or infinite values"
NOT_FINITE_AGGREGATE = "not aggregated: the mean of the round's updates was not finite (the trunk stayed as it was)"
Results = list[tuple[ClientProxy, FitRes]]


class RecordingStrategy(Strategy):
    """The run's legacy strategy, checked, checkpointed and recorded round by round (rounds are numbered
    from ``offset`` + 1 when a run is resumed)."""

    def __init__(self, settings: RunSettings, start: dict[str, np.ndarray], offset: int, recorder: RunRecorder) -> None:
        self.settings, self.offset, self.recorder = settings, offset, recorder
        self.names = sorted(start)
        self.dtypes = [start[k].dtype for k in self.names]  # SecAgg+ aggregates in double precision
        self.checkpoint = Checkpoint(settings.run_folder, settings.identity())
        self.minimum = min(settings.federation.min_partners, settings.n_partners)
        # The failures that kept the latest round from aggregating (none once a round aggregates): the
        # partners' part in a run that then fails.
        self.failures: dict[str, PartnerFailure] = {}
        self.convergence = Convergence(settings.federation.patience)
        self.base = self.base_strategy(settings, start)
        if offset > 0:  # a resumed run: the server optimiser and the convergence count go on where they were
            self.restore_state(self.checkpoint.strategy_state())
            self.convergence.restore(self.checkpoint.progress().get("convergence", {}))

    def base_strategy(self, settings: RunSettings, start: dict[str, np.ndarray]) -> FedAvg:
        plan = settings.federation
        extra: dict[str, Any] = {}
        if plan.strategy == "fedprox":
            extra["proximal_mu"] = plan.proximal_mu
        if plan.strategy == "fedadam":
            extra["eta"] = plan.server_learning_rate
        return STRATEGIES[plan.strategy](
            fraction_fit=1.0,
            fraction_evaluate=1.0,
            min_fit_clients=self.minimum,
            min_evaluate_clients=self.minimum,
            min_available_clients=self.minimum,
            initial_parameters=ndarrays_to_parameters([start[k] for k in self.names]),
            on_fit_config_fn=self.round_config,
            on_evaluate_config_fn=self.round_config,
            accept_failures=True,
            **extra,
        )

    def server_state(self) -> dict[str, np.ndarray]:
        """FedAdam's first and second moments by parameter name (``m.<name>``, ``v.<name>``); the other
        strategies keep no state between rounds."""
        moments = {"m": getattr(self.base, "m_t", None), "v": getattr(self.base, "v_t", None)}
        return {
            f"{kind}.{name}": np.asarray(value)
            for kind, values in moments.items()
            if values
            for name, value in zip(self.names, values, strict=True)
        }

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        """Give the base strategy back the state :meth:`server_state` saved (nothing for an empty one)."""
        for kind, attribute in (("m", "m_t"), ("v", "v_t")):
            if all(f"{kind}.{name}" in state for name in self.names):
                setattr(self.base, attribute, [state[f"{kind}.{name}"] for name in self.names])

    def round_config(self, server_round: int) -> dict[str, Scalar]:
        """What every partner learns of the round: its number, the run, the settings and the parameter names."""
        settings = self.settings
        return {
            "server-round": self.offset + server_round,
            "federation": settings.federation.model_dump_json(),
            "parameter-names": json.dumps(self.names),
            "n-partners": settings.n_partners,
            "key-id": settings.key_id,
            "run-name": settings.run_name,
            "run-id": settings.run_id or 0,
            "trunk-round": self.checkpoint.last_round(),  # the last round aggregated into the parameters
        }

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return self.base.initialize_parameters(client_manager)

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        """Nobody, once the run has converged: Flower's workflows then pass over the remaining rounds."""
        if self.convergence.converged_at is not None:
            return []
        return self.base.configure_fit(server_round, parameters, client_manager)

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, EvaluateIns]]:
        if self.convergence.converged_at is not None:
            return []
        return self.base.configure_evaluate(server_round, parameters, client_manager)

    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, dict[str, Scalar]] | None:
        return self.base.evaluate(server_round, parameters)

    def aggregate_fit(
        self, server_round: int, results: Results, failures: list[Any]
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        number = self.offset + server_round
        self.check_partner_names(results)
        kept, excluded = self.usable_updates(results, failures_by_partner(failures, "train"))
        for failure in excluded.values():
            log.warning("round %d: %s excluded: %s", number, failure.partner, failure.reason)
        if self.below_quorum(number, kept, excluded):
            return None, {}
        # The run's own round number: FedAdam's bias correction counts rounds, also across a resume.
        parameters, metrics = self.base.aggregate_fit(number, kept, [])
        arrays = self.finite_aggregate(number, parameters, kept, excluded)
        if arrays is None:
            return None, {}
        arrays = [a.astype(dtype, copy=False) for a, dtype in zip(arrays, self.dtypes, strict=True)]
        parameters = ndarrays_to_parameters(arrays)
        self.failures = {}
        self.checkpoint.save(number, dict(zip(self.names, arrays, strict=True)), self.server_state())
        self.record_fit(number, kept, excluded)
        return parameters, metrics

    @staticmethod
    def check_partner_names(results: Results) -> None:
        check_distinct_partners([_partner(result, proxy.cid) for proxy, result in results])

    @staticmethod
    def usable_updates(
        results: Results, excluded: dict[str, PartnerFailure]
    ) -> tuple[Results, dict[str, PartnerFailure]]:
        """The updates that are finite, and every partner excluded (a failed reply or a non-finite update)."""
        kept = []
        for proxy, result in results:
            if all(np.isfinite(a).all() for a in parameters_to_ndarrays(result.parameters)):
                kept.append((proxy, result))
            else:
                name = _partner(result, proxy.cid)
                excluded[name] = PartnerFailure(name, "train", NOT_FINITE_UPDATE)
        return kept, excluded

    def below_quorum(self, number: int, kept: Results, excluded: dict[str, PartnerFailure]) -> bool:
        """Fewer usable updates than the minimum would let partners read each other's from the new model:
        the round is recorded (who failed, and why) and aggregates nothing."""
        if len(kept) >= self.minimum:
            return False
        log.error(
            "round %d: %d usable update(s), fewer than %d; the trunk stays as it was", number, len(kept), self.minimum
        )
        self.failures = excluded
        self.recorder.record_fit(FitRound(number, [], {}, excluded))
        return True

    def finite_aggregate(
        self, number: int, parameters: Parameters | None, kept: Results, excluded: dict[str, PartnerFailure]
    ) -> list[np.ndarray] | None:
        """The aggregate's arrays, or None (recorded: each partner learns why its update went unused)."""
        arrays = parameters_to_ndarrays(parameters) if parameters is not None else []
        if arrays and all(np.isfinite(a).all() for a in arrays):
            return arrays
        log.error("round %d: aggregate is not finite; the trunk stays as it was", number)
        unused = {name: PartnerFailure(name, "train", NOT_FINITE_AGGREGATE) for name in _names(kept)}
        self.failures = {**excluded, **unused}
        self.recorder.record_fit(FitRound(number, [], {}, self.failures))
        return None

    def record_fit(self, number: int, kept: Results, excluded: dict[str, PartnerFailure]) -> None:
        """Who took part, what they shared, and the privacy budget spent so far (for the fewest partners
        any round aggregated: their noise was sized for all of them)."""
        partners = sorted(_names(kept))
        fewest = min([*self.recorder.aggregated_partner_counts(number), len(partners)])
        plan, settings = self.settings.federation, self.settings
        epsilon = spent_epsilon(plan.privacy, number, fewest, settings.n_partners)
        shared = {_partner(result): _scalars(result.metrics) for _, result in kept}
        self.recorder.record_fit(FitRound(number, partners, shared, excluded, epsilon))

    def aggregate_evaluate(
        self, server_round: int, results: list[tuple[ClientProxy, EvaluateRes]], failures: list[Any]
    ) -> tuple[float | None, dict[str, Scalar]]:
        number = self.offset + server_round
        shared = {_partner(result): _scalars(result.metrics) for _, result in results}
        failed = failures_by_partner(failures, "evaluate")
        for failure in failed.values():
            log.warning("round %d: %s excluded: evaluation failed: %s", number, failure.partner, failure.reason)
        sent = sum(int(m.get("bytes_sent", 0)) for m in shared.values())
        self.recorder.record_evaluation(EvaluationRound(number, shared, failed, sent))
        log.info("round %d: %s", number, {p: round(m.get("valid_score", np.nan), 4) for p, m in shared.items()})
        scores = [float(m["valid_score"]) for m in shared.values() if "valid_score" in m]
        stops = self.convergence.update(number, float(np.mean(scores)) if scores else None)
        self.checkpoint.save_progress({"convergence": self.convergence.state()})
        if stops:
            log.info(
                "round %d: the consortium's mean validation score has not improved for %d rounds (best %.4f at "
                "round %d); the run stops here",
                number,
                self.convergence.patience,
                self.convergence.best,
                self.convergence.best_round,
            )
        return self.base.aggregate_evaluate(server_round, results, failures)


class Convergence:
    """Stops a run once the consortium's mean validation score has not improved (by more than
    ``min_delta``) for ``patience`` rounds; none: never. A round without shared scores says nothing. The
    count is kept in the run's folder, so a resumed run goes on counting."""

    def __init__(self, patience: int | None, min_delta: float = 1e-4) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_round, self.stale = -np.inf, 0, 0
        self.converged_at: int | None = None

    def state(self) -> dict[str, float | int]:
        return {"best": self.best, "best_round": self.best_round, "stale": self.stale}

    def restore(self, state: dict[str, float | int]) -> None:
        """Go on from a saved :meth:`state` (none: from the start)."""
        self.best = float(state.get("best", -np.inf))
        self.best_round, self.stale = int(state.get("best_round", 0)), int(state.get("stale", 0))

    def update(self, number: int, score: float | None) -> bool:
        """Record round ``number``'s consortium score; True when this round ends the run."""
        if self.patience is None or score is None or not np.isfinite(score) or self.converged_at is not None:
            return False
        if score > self.best + self.min_delta:
            self.best, self.best_round, self.stale = score, number, 0
            return False
        self.stale += 1
        if self.stale >= self.patience:
            self.converged_at = number
            return True
        return False


def _partner(result: FitRes | EvaluateRes, fallback: str = "?") -> str:
    return str(result.metrics.get("partner", fallback))


def _names(kept: Results) -> list[str]:
    return [_partner(result) for _, result in kept]


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}
