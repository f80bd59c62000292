"""Hyper-parameters of the model family, one typed object saved with every artifact."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TrunkConfig(BaseModel):
    """Multitask MLP trunk shared by all endpoints (the part a federation trains together)."""

    hidden_sizes: tuple[int, ...] = (768, 256)
    dropout: float = Field(default=0.25, ge=0.0, lt=1.0)
    input_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 512
    max_epochs: int = 40
    patience: int = 5


class GBMConfig(BaseModel):
    """Gradient-boosted trees per endpoint over the feature vector (the MapLight recipe)."""

    iterations: int = 1000
    depth: int = 6


class GraphConfig(BaseModel):
    """A directed message-passing network (D-MPNN) over the molecular graph, chemprop's defaults: on another
    lab's molecules it ranks LogD, Caco-2 and tissue binding better than the feature-vector models
    (benchmarks/results/generalise_graph.md)."""

    hidden_size: int = 300
    depth: int = Field(default=3, ge=1)
    ffn_hidden_size: int = 300
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    batch_size: int = 64
    max_epochs: int = 40
    patience: int = 8
    warmup_epochs: float = 2.0
    initial_learning_rate: float = 1e-4
    max_learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4
    tasks: Literal["all", "regression"] = Field(
        default="all",
        description="The model's tasks the member learns and takes its share of: all, or the regression ones "
        "(every other endpoint is then the trees' and trunk's alone).",
    )


class AuxiliaryConfig(BaseModel):
    """Fold networks over public side-data tasks whose predictions are extra GBM features."""

    folds: int = Field(default=5, ge=2)
    early_stopping_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    network: TrunkConfig = TrunkConfig(hidden_sizes=(512, 128))


class ModelConfig(BaseModel):
    """Everything that defines a trained fedadmet model besides its data."""

    feature_set: Literal["lean", "full"] = Field(
        default="lean",
        description="lean: the 99 cheaper 2D descriptors; full: all 204 (the served model on the bundled data, "
        "which ranks external industrial sets better with them).",
    )
    trunk: TrunkConfig = TrunkConfig()
    trunk_members: int = Field(
        default=3,
        ge=1,
        description="Trunks trained with seeds seed, seed+1, ...; their outputs are averaged (one network's "
        "predictions on new chemistry move between seeds by as much as the differences measured). Each member "
        "adds ~9 MB to the served model's weights, which must stay under 150 MB.",
    )
    gbm: GBMConfig = GBMConfig()
    graph_members: int = Field(
        default=0,
        ge=0,
        description="D-MPNN graph networks (seeds seed, seed+1, ...; averaged) beside the trunk and trees; 0: none. "
        "Each reads the graph and the scaled 2D descriptors and adds ~1.5 MB.",
    )
    graph: GraphConfig = GraphConfig()
    graph_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="The graph member's share of every prediction of a task it learned (GraphConfig.tasks); the "
        "trees and trunk share the rest as validation chooses. 0.5: on ExpansionRx half A the share that ranked "
        "best was 0.5 or 0.75 on 5 of 7 columns (README, External validation); validation cannot choose it, since "
        "it measures the training chemistry, where the trees do best.",
    )
    auxiliary: AuxiliaryConfig = AuxiliaryConfig()
    blend_weights: tuple[float, ...] = Field(
        default=(0.25, 0.5, 0.75, 1.0),
        description="Candidate weights of the GBM in the GBM/trunk blend, picked per endpoint on validation.",
    )
    conformal_coverage: float = Field(default=0.9, gt=0.0, lt=1.0)
    ad_quantile: float = Field(default=0.05, description="Validation molecules below this quantile are out of domain.")
    seed: int = 0
