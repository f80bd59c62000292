"""Typed consortium rules and federation hyper-parameters, agreed once and shared by every partner."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from fedadmet.exceptions import InputError
from fedadmet.models.config import TrunkConfig

MIN_SECAGG_PARTNERS = 3  # SecAgg+ splits each partner's mask key into shares held by the others
PARTNER_FAILED = "fedadmet partner"  # marks a partner's error reply: "fedadmet partner <name>: <reason>"


def check_partner_name(partner: str) -> None:
    """The name labels the partner's shared metrics and exclusions in the registry, and API keys of the
    partner's users are matched to it: it cannot be blank or padded."""
    _check_name(partner, "partner name", "this partner's name as the consortium knows it", "e.g. site_basel")


def check_run_name(name: str) -> None:
    """A run's name is also a folder name at every partner, where the partner keeps its model of the run
    (and in deployment the coordinator sends it): no path may hide in it."""
    _check_name(name, "run name", "a name for the run", "e.g. consortium-2026")
    if set(name) & set("/\\") or name.strip(".") == "":
        raise InputError(f"the run name {name!r} is or holds a path", expected="a plain name, e.g. consortium-2026")


def _check_name(name: str, what: str, meaning: str, example: str) -> None:
    if not name.strip():
        raise InputError(f"the {what} is empty", expected=meaning)
    if set(name) & set(":'\"") or not name.isprintable():  # it opens error replies: "<name>: <reason>"
        raise InputError(f"the {what} {name!r} holds a colon, quote, tab or line break", expected=example)
    if name != name.strip():
        raise InputError(f"the {what} {name!r} starts or ends with a space", expected=repr(name.strip()))


def check_distinct_partners(names: Sequence[str]) -> None:
    """Each partner takes part once. Names that differ only in letter case count as one: people (and the
    API keys made for a partner) would read them as the same site, while the registry would keep two."""
    folded = [name.casefold() for name in names]
    clashing = sorted({name for name in names if folded.count(name.casefold()) > 1})
    if clashing:
        raise InputError(
            "partners carry the same name (letter case aside); each partner needs its own",
            got=clashing,
            expected="one prepared folder per partner, each prepared with its own --partner name",
        )


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


class PrivacyConfig(BaseModel):
    """Optional differential privacy: each partner clips its trunk update and adds Gaussian noise."""

    enabled: bool = False
    clipping_norm: float = Field(default=1.0, gt=0)
    noise_multiplier: float = Field(default=0.5, ge=0)
    delta: float = Field(default=1e-5, gt=0, lt=1)


class FederationConfig(BaseModel):
    """One federated run: strategy, rounds, local training and privacy."""

    rounds: int = Field(default=10, ge=1)
    strategy: Literal["fedavg", "fedprox", "fedadam"] = "fedavg"
    local_epochs: int = Field(default=1, ge=1)
    learning_rate: float = 1e-3
    proximal_mu: float = Field(default=0.01, ge=0, description="FedProx only.")
    server_learning_rate: float = Field(default=0.01, gt=0, description="FedAdam only.")
    secagg: bool = Field(default=True, description="SecAgg+ masking of every trunk update (on by default).")
    secagg_stage_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="How long each SecAgg+ stage waits for partners' replies before going on without the silent ones.",
    )
    min_partners: int = Field(
        default=2,
        ge=1,
        description="A round proceeds while at least this many reply. With two, each partner can work out the "
        "other's update from the new trunk (SecAgg+ hides updates from the coordinator, not between two).",
    )
    privacy: PrivacyConfig = PrivacyConfig()
    trunk: TrunkConfig = TrunkConfig(hidden_sizes=(512, 256), batch_size=128)
    seed: int = 0

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
