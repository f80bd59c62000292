"""Typed consortium rules and the molecular task's federation settings, agreed once and shared by every partner."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fedadmet.federated.plan import FederationPlan, PrivacyConfig
from fedadmet.models.config import TrunkConfig

__all__ = ["ConsortiumConfig", "FederationConfig", "PrivacyConfig", "QuorumConfig"]


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


class FederationConfig(FederationPlan):
    """One federated run of the molecular task: the runtime's plan plus the trunk and its local training."""

    model_config = ConfigDict(extra="ignore")

    local_epochs: int = Field(default=1, ge=1)
    learning_rate: float = 1e-3
    trunk: TrunkConfig = TrunkConfig(hidden_sizes=(512, 256), batch_size=128)
    seed: int = 0
