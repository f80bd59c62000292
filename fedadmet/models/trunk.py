"""The multitask network: a shared MLP trunk and one small head per endpoint.

Heads live in a ``ModuleDict`` keyed by endpoint name so that a federation can aggregate the trunk
alone while each partner keeps its own heads.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fedadmet.models.config import TrunkConfig
from fedadmet.models.trunk_weights import TrunkWeights


class MultitaskNet(nn.Module):
    def __init__(
        self, n_features: int, tasks: Sequence[str], hidden_sizes: Sequence[int], dropout: float, input_dropout: float
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(input_dropout)]
        width = n_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.trunk = nn.Sequential(*layers)
        self.tasks = list(tasks)
        self.heads = nn.ModuleDict({task: nn.Linear(width, 1) for task in self.tasks})

    @classmethod
    def seeded(cls, n_features: int, tasks: Sequence[str], config: TrunkConfig, seed: int) -> MultitaskNet:
        """A fresh net whose initial weights follow ``seed``, so that a seed reproduces a whole training run."""
        torch.manual_seed(seed)
        return cls(n_features, tasks, config.hidden_sizes, config.dropout, config.input_dropout)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw outputs, one column per task: logits for classification, scaled values for regression."""
        hidden = self.embed(x)
        return torch.cat([self.heads[task](hidden) for task in self.tasks], dim=1)

    def weights(self) -> TrunkWeights:
        """The trained weights for PyTorch-free prediction."""
        return TrunkWeights.from_arrays({k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}, self.tasks)


def masked_multitask_loss(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    is_classification: torch.Tensor,
    relations: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over tasks of each task's mean loss, ignoring missing (NaN) labels.

    Classification uses binary cross-entropy on logits, regression squared error on scaled targets.
    ``relations`` marks censored regression labels: -1 for "<" (only a prediction above the bound is
    penalised), +1 for ">" (only one below), 0 for exact values.
    """
    per_label, present = _label_losses(outputs, targets, is_classification, relations)
    counts = present.sum(0)
    per_task = per_label.sum(0) / counts.clamp(min=1)
    has_labels = counts > 0
    if not bool(has_labels.any()):
        return outputs.sum() * 0.0
    return per_task[has_labels].mean()


def record_losses(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    is_classification: torch.Tensor,
    relations: torch.Tensor | None = None,
) -> torch.Tensor:
    """Each record's own loss: the mean of its labels' losses (0 for a record without labels). Unlike
    :func:`masked_multitask_loss`, whose per-task means weigh a record by how many others share its tasks,
    one record's loss here depends on that record alone, which record-level DP-SGD needs (removing a record
    must change only its own gradient)."""
    per_label, present = _label_losses(outputs, targets, is_classification, relations)
    return per_label.sum(1) / present.sum(1).clamp(min=1)


def _label_losses(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    is_classification: torch.Tensor,
    relations: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of every label (0 where it is missing), and where labels are present."""
    present = ~torch.isnan(targets)
    safe_targets = torch.where(present, targets, torch.zeros_like(targets))
    bce = nn.functional.binary_cross_entropy_with_logits(outputs, safe_targets, reduction="none")
    error = outputs - safe_targets
    if relations is not None:
        below_ok = (relations < 0) & (error < 0)
        above_ok = (relations > 0) & (error > 0)
        error = torch.where(below_ok | above_ok, torch.zeros_like(error), error)
    squared = error.pow(2)
    return torch.where(is_classification.unsqueeze(0), bce, squared) * present, present
