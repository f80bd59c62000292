"""Typed consortium rules and the molecular task's federation settings, agreed once and shared by every partner."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fedadmet.federated.plan import FederationPlan, PrivacyConfig
from fedadmet.models.config import TrunkConfig

__all__ = ["ConsortiumConfig", "FederationConfig", "PrivacyConfig", "QuorumConfig", "RecordDpConfig"]


class QuorumConfig(BaseModel):
    """Minimum label counts for a task to be trained (the MELLODDY rules)."""

    min_actives: int = 25
    min_inactives: int = 25
    min_regression_values: int = 50
    min_regression_uncensored: int = 25


class ConsortiumConfig(BaseModel):
    """What every partner's preparation must agree on, so that their features and folds line up."""

    quorum: QuorumConfig = QuorumConfig()
    n_folds: int = Field(default=5, ge=3, description="Keyed scaffold folds; fold 0 is each partner's test fold.")
    reference_size: int = Field(default=500, ge=10, description="Approved drugs used for scaling and the key check.")


class RecordDpConfig(BaseModel):
    """Record-level DP-SGD at each partner (Opacus): every training record's gradient is clipped to
    ``max_grad_norm`` in every local step and Gaussian noise is added to each batch's sum, with the noise
    multiplier that keeps all the run's planned steps (rounds × local epochs × batches, Poisson-sampled)
    within ``target_epsilon`` at ``delta`` by Opacus's ``accountant``. It protects each record of a
    partner's training folds against whoever sees what the partner sends (the coordinator, the other
    partners, anyone given the published trunk)."""

    target_epsilon: float = Field(gt=0, description="The ε each partner may spend over the whole run.")
    delta: float = Field(default=1e-5, gt=0, lt=1, description="Must be below 1 / each partner's training records.")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Each record's gradient is clipped to this L2 norm.")
    accountant: Literal["rdp", "prv"] = Field(default="rdp", description="Opacus's Rényi DP or PRV accountant.")


class FederationConfig(FederationPlan):
    """One federated run of the molecular task: the runtime's plan plus the trunk and its local training."""

    model_config = ConfigDict(extra="ignore")

    patience: int | None = Field(
        default=3, ge=1, description="Stop after this many rounds without a better consortium validation score."
    )
    local_epochs: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0, description="The partners' learning rate in round 1.")
    learning_rate_schedule: Literal["constant", "cosine"] = Field(
        default="cosine", description="cosine: decays over the planned rounds to final_learning_rate_fraction of it."
    )
    final_learning_rate_fraction: float = Field(default=0.1, ge=0, le=1)
    trunk: TrunkConfig = TrunkConfig(hidden_sizes=(512, 256), batch_size=128)
    seed: int = 0
    record_dp: RecordDpConfig | None = Field(default=None, description="Record-level DP-SGD at each partner.")

    def round_learning_rate(self, server_round: int) -> float:
        """The partners' learning rate in ``server_round`` (counted from 1): constant, or a cosine from
        ``learning_rate`` in round 1 to ``final_learning_rate_fraction`` of it in the last planned round."""
        if self.learning_rate_schedule == "constant" or self.rounds == 1:
            return self.learning_rate
        progress = min(max(server_round - 1, 0) / (self.rounds - 1), 1.0)
        final = self.learning_rate * self.final_learning_rate_fraction
        return final + 0.5 * (self.learning_rate - final) * (1 + math.cos(math.pi * progress))

    @model_validator(mode="after")
    def _one_kind_of_privacy(self) -> FederationConfig:
        """Record-level DP trains with per-record gradients: FedProx's proximal term is not one, and
        partner-level DP would withhold the ε each partner reports."""
        if self.record_dp is not None and self.privacy.enabled:
            raise ValueError("choose record-level DP (record_dp) or partner-level DP (privacy), not both")
        if self.record_dp is not None and self.strategy == "fedprox":
            raise ValueError("record-level DP trains with fedavg or fedadam (FedProx's term is not per record)")
        return self
