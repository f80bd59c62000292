"""The graph member: a directed message-passing network (D-MPNN, Yang et al. 2019) trained with PyTorch.

Hidden states live on directed bonds; each step a bond v→w gathers the states of the bonds entering v
except its own reverse, so a message never returns straight to where it came from. After ``depth`` steps
each atom sums its incoming bond states, the molecule averages its atoms, and a feed-forward network
(optionally reading extra per-molecule features, as Chemprop-RDKit reads RDKit descriptors) gives one
output per task. Serving needs no PyTorch: :class:`~fedadmet.models.graph_weights.GraphWeights` runs the
same forward pass in NumPy on the same weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fedadmet.chem.graphs import ATOM_FEATURES, BOND_FEATURES, GraphBatch, MolGraph
from fedadmet.models.config import GraphConfig
from fedadmet.models.graph_weights import GraphWeights
from fedadmet.models.trainer import early_stopped
from fedadmet.models.trunk import masked_multitask_loss


class GraphNet(nn.Module):
    def __init__(self, tasks: Sequence[str], config: GraphConfig, extra_features: int = 0) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.tasks, self.depth = list(tasks), config.depth
        self.bond_input = nn.Linear(ATOM_FEATURES + BOND_FEATURES, hidden, bias=False)
        self.bond_update = nn.Linear(hidden, hidden, bias=False)
        self.atom_output = nn.Linear(ATOM_FEATURES + hidden, hidden)
        self.head = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(hidden + extra_features, config.ffn_hidden_size),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.ffn_hidden_size, len(self.tasks)),
        )

    def encode(self, batch: GraphBatch) -> torch.Tensor:
        """One vector per molecule: the mean of its atoms' states after message passing."""
        atoms, bonds = torch.as_tensor(batch.atoms), torch.as_tensor(batch.bonds)
        source, target = torch.as_tensor(batch.source), torch.as_tensor(batch.target)
        reverse, molecule = torch.as_tensor(batch.reverse), torch.as_tensor(batch.molecule)
        initial = torch.relu(self.bond_input(torch.cat([atoms[source], bonds], dim=1)))
        state = initial
        for _ in range(self.depth - 1):
            entering = torch.zeros(len(atoms), state.shape[1]).index_add_(0, target, state)
            state = torch.relu(initial + self.bond_update(entering[source] - state[reverse]))
        entering = torch.zeros(len(atoms), state.shape[1]).index_add_(0, target, state)
        atom_states = torch.relu(self.atom_output(torch.cat([atoms, entering], dim=1)))
        sums = torch.zeros(batch.molecules, atom_states.shape[1]).index_add_(0, molecule, atom_states)
        counts = torch.bincount(molecule, minlength=batch.molecules).clamp(min=1).unsqueeze(1)
        return sums / counts

    def forward(self, batch: GraphBatch, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Raw outputs, one column per task: logits for classification, scaled values for regression."""
        encoded = self.encode(batch)
        return self.head(encoded if extra is None else torch.cat([encoded, extra], dim=1))

    def weights(self) -> GraphWeights:
        return GraphWeights.from_arrays(
            {key: value.detach().cpu().numpy() for key, value in self.state_dict().items()}, self.tasks, self.depth
        )


@dataclass
class GraphTasks:
    """Graphs with their (molecules × tasks) labels on the network's scale (NaN where missing), each task's
    kind, optional extra per-molecule features (already scaled) and censoring marks."""

    graphs: list[MolGraph]
    targets: np.ndarray
    is_classification: np.ndarray
    extra: np.ndarray | None = None
    relations: np.ndarray | None = None  # censored labels as in TaskMatrix (-1 "<", +1 ">", 0 exact)

    def __post_init__(self) -> None:
        if len(self.graphs) != len(self.targets) or (self.extra is not None and len(self.extra) != len(self.graphs)):
            raise ValueError("graphs, targets and extra features must have one row per molecule")

    @classmethod
    def with_graphs(
        cls,
        graphs: Sequence[MolGraph | None],
        targets: np.ndarray,
        is_classification: np.ndarray,
        extra: np.ndarray | None = None,
        relations: np.ndarray | None = None,
    ) -> GraphTasks:
        """The rows whose molecule has a graph (one RDKit could not read has none and is left out)."""
        every = cls(list(graphs), targets, is_classification, extra, relations)  # type: ignore[arg-type]
        return every.rows(np.array([i for i, graph in enumerate(graphs) if graph is not None], dtype=np.intp))

    def rows(self, rows: np.ndarray) -> GraphTasks:
        extra = None if self.extra is None else self.extra[rows]
        relations = None if self.relations is None else self.relations[rows]
        return GraphTasks([self.graphs[i] for i in rows], self.targets[rows], self.is_classification, extra, relations)


def _learning_rate_factor(config: GraphConfig, steps_per_epoch: int):
    """Chemprop's schedule as a factor of the maximum rate: linear warm-up from the initial rate, then
    exponential decay to the final rate at the last epoch."""
    warmup = max(int(config.warmup_epochs * steps_per_epoch), 1)
    total = max(config.max_epochs * steps_per_epoch, warmup + 1)
    start, final = (
        config.initial_learning_rate / config.max_learning_rate,
        config.final_learning_rate / config.max_learning_rate,
    )

    def factor(step: int) -> float:
        if step < warmup:
            return start + (1.0 - start) * step / warmup
        return final ** ((step - warmup) / (total - warmup))

    return factor


def _relations(data: GraphTasks, rows: np.ndarray | slice) -> torch.Tensor | None:
    return None if data.relations is None else torch.as_tensor(data.relations[rows], dtype=torch.float32)


def _loss(net: GraphNet, data: GraphTasks, rows: np.ndarray, kinds: torch.Tensor) -> torch.Tensor:
    extra = None if data.extra is None else torch.as_tensor(data.extra[rows])
    outputs = net(GraphBatch.of([data.graphs[i] for i in rows]), extra)
    targets = torch.as_tensor(data.targets[rows], dtype=torch.float32)
    return masked_multitask_loss(outputs, targets, kinds, _relations(data, rows))


@torch.no_grad()
def _validation_loss(net: GraphNet, data: GraphTasks, kinds: torch.Tensor, batch_size: int = 512) -> float:
    """The masked multitask loss over all of ``data`` (outputs in blocks, the loss over the whole)."""
    net.eval()
    outputs = []
    for start in range(0, len(data.graphs), batch_size):
        rows = np.arange(start, min(start + batch_size, len(data.graphs)))
        extra = None if data.extra is None else torch.as_tensor(data.extra[rows])
        outputs.append(net(GraphBatch.of([data.graphs[i] for i in rows]), extra))
    targets = torch.as_tensor(data.targets, dtype=torch.float32)
    return float(masked_multitask_loss(torch.cat(outputs), targets, kinds, _relations(data, slice(None))))


def random_split(data: GraphTasks, fraction: float, seed: int) -> tuple[GraphTasks, GraphTasks]:
    """``data`` less a random ``fraction`` of its molecules, and that fraction (to stop training on)."""
    order = np.random.default_rng(seed).permutation(len(data.graphs))
    n_valid = max(int(len(order) * fraction), 1)
    return data.rows(np.sort(order[n_valid:])), data.rows(np.sort(order[:n_valid]))


def fit_graph_net(
    tasks: Sequence[str], train: GraphTasks, valid: GraphTasks, config: GraphConfig, seed: int, progress: bool = True
) -> tuple[GraphNet, list[float]]:
    """A :class:`GraphNet` trained on ``train`` with Adam and chemprop's learning-rate schedule, early-stopped
    on the loss over ``valid`` (the best epoch's weights kept); the validation loss curve."""
    torch.manual_seed(seed)
    net = GraphNet(tasks, config, 0 if train.extra is None else train.extra.shape[1])
    kinds = torch.as_tensor(train.is_classification, dtype=torch.bool)
    steps_per_epoch = math.ceil(len(train.graphs) / config.batch_size)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.max_learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _learning_rate_factor(config, steps_per_epoch))
    generator = np.random.default_rng(seed)

    def train_one_epoch() -> None:
        net.train()
        shuffled = generator.permutation(len(train.graphs))
        for start in range(0, len(shuffled), config.batch_size):
            optimizer.zero_grad(set_to_none=True)
            _loss(net, train, shuffled[start : start + config.batch_size], kinds).backward()
            optimizer.step()
            schedule.step()

    curve = early_stopped(
        net,
        train_one_epoch,
        lambda: _validation_loss(net, valid, kinds),
        config.max_epochs,
        config.patience,
        f"graph member (seed {seed})" if progress else None,
    )
    return net, curve
