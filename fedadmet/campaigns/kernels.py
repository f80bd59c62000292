"""The Tanimoto kernel for GPyTorch: similarity of count fingerprints, a valid kernel with no lengthscale."""

from __future__ import annotations

import torch
from gpytorch.kernels import Kernel


class TanimotoKernel(Kernel):
    """k(a, b) = a·b / (a·a + b·b − a·b); scale it with ``ScaleKernel``."""

    has_lengthscale = False

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params: object) -> torch.Tensor:
        if diag:
            dot = (x1 * x2).sum(-1)
            return dot / ((x1 * x1).sum(-1) + (x2 * x2).sum(-1) - dot).clamp_min(1e-9)
        dot = x1 @ x2.transpose(-2, -1)
        norms1 = (x1 * x1).sum(-1, keepdim=True)
        norms2 = (x2 * x2).sum(-1, keepdim=True).transpose(-2, -1)
        return dot / (norms1 + norms2 - dot).clamp_min(1e-9)
