"""What the federation runtime itself needs of a run's settings: rounds, strategy, secure aggregation,
quorum and differential privacy. A task's own settings (its model, its local training) travel beside
these in the same JSON object: the plan keeps them as extra fields, and the task reads them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fedadmet.exceptions import InputError

MIN_SECAGG_PARTNERS = 3  # SecAgg+ splits each partner's mask key into shares held by the others
SECAGG_CLIPPING_RANGE = 8.0  # shared values stay well inside ±8; SecAgg+ quantises within this range
# The most examples one partner's update counts for under SecAgg+ (Flower's ``max_weight``): each update is
# scaled by weight / max weight before it is quantised, so a bound far above the real weights (Flower's
# default, or 1e6 against the weight 1 every partner sends under DP) leaves few quantisation steps to it.
SECAGG_MAX_WEIGHT = 100_000
_SECAGG_MODULUS = 2**32  # Flower's modulus: the sum of every partner's quantised values must stay below it


class PrivacyConfig(BaseModel):
    """Optional differential privacy: each partner clips its update and adds Gaussian noise."""

    enabled: bool = False
    clipping_norm: float = Field(default=1.0, gt=0)
    noise_multiplier: float = Field(default=0.5, ge=0)
    delta: float = Field(default=1e-5, gt=0, lt=1)


class FederationPlan(BaseModel):
    """One federated run as the runtime sees it; any other field is the task's and is kept as given."""

    model_config = ConfigDict(extra="allow")

    rounds: int = Field(default=10, ge=1, description="The most rounds (fewer where ``patience`` stops the run).")
    patience: int | None = Field(
        default=None,
        ge=1,
        description="Stop once the consortium's mean validation score has not improved for this many rounds "
        "(none: run every round). Partners that share no score (under partner-level DP none do) cannot stop it.",
    )
    strategy: Literal["fedavg", "fedprox", "fedadam"] = "fedavg"
    proximal_mu: float = Field(default=0.01, ge=0, description="FedProx only.")
    server_learning_rate: float = Field(default=0.01, gt=0, description="FedAdam only.")
    secagg: bool = Field(default=True, description="SecAgg+ masking of every update (on by default).")
    secagg_stage_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="How long each SecAgg+ stage waits for partners' replies before going on without the silent ones.",
    )
    min_partners: int = Field(
        default=2,
        ge=1,
        description="A round proceeds while at least this many reply. With two, each partner can work out the "
        "other's update from the new model (SecAgg+ hides updates from the coordinator, not between two).",
    )
    privacy: PrivacyConfig = PrivacyConfig()

    def update_weight(self, num_examples: int) -> int:
        """The weight a partner's update is averaged with. Under DP every partner weighs the same (its
        sensitivity stays the clipping norm); under SecAgg+ a weight counts for at most
        :data:`SECAGG_MAX_WEIGHT` examples (a self-reported weight, hidden by the mask, cannot buy more)."""
        if self.privacy.enabled:
            return 1
        return min(num_examples, SECAGG_MAX_WEIGHT) if self.secagg else num_examples

    def max_update_weight(self) -> int:
        """The largest weight :meth:`update_weight` gives: SecAgg+'s ``max_weight``, so that the largest
        update is quantised with all of SecAgg+'s steps."""
        return 1 if self.privacy.enabled else SECAGG_MAX_WEIGHT

    def secagg_threshold(self, n_partners: int) -> int:
        """How many partners' shares rebuild a mask: a strict majority and one more (⌈n/2⌉ + 1), at least the
        quorum. Below a majority, a coordinator could ask one group for a partner's mask-key shares (saying it
        dropped out) and another for its seed shares (saying it is active), and unmask that partner's update."""
        return min(n_partners, max(self.min_partners, (n_partners + 1) // 2 + 1))

    def check_partners(self, n_partners: int) -> None:
        """Refuse, before anything starts, a partner count these settings cannot federate."""
        if self.secagg and n_partners < MIN_SECAGG_PARTNERS:
            raise InputError(
                f"SecAgg+ needs at least {MIN_SECAGG_PARTNERS} partners, got {n_partners}; with fewer, "
                "turn it off with --no-secagg (the coordinator then sees each partner's update)"
            )
        if self.min_partners > n_partners:
            raise InputError(f"--min-partners {self.min_partners} is more than the {n_partners} partners")
        if self.secagg and not 2 <= self.min_partners < n_partners:
            raise InputError(
                f"with SecAgg+, --min-partners must be at least 2 and below the {n_partners} partners (each mask is "
                f"rebuilt from the shares of fewer than all of them), got {self.min_partners}",
                expected=f"2 to {n_partners - 1}, or more partners",
            )


def secagg_quantization_range(n_partners: int) -> int:
    """SecAgg+'s quantisation levels: the largest power of two whose sum over ``n_partners`` stays below the
    modulus (more levels, finer steps), and no more than 2**30 (Flower rounds to 32-bit integers)."""
    levels = 2**30
    while levels * n_partners >= _SECAGG_MODULUS:
        levels //= 2
    return levels
