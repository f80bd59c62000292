"""Chemistry layer: standardisation, featurisation, structural alerts and scaffolds."""

from fedadmet.chem.alerts import structural_alerts
from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import FeatureSet, default_feature_set
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.chem.scaffolds import murcko_scaffold
from fedadmet.chem.standardize import (
    MoleculeLimits,
    Reject,
    StandardizedBatch,
    standardize_many,
    standardize_smiles,
)

__all__ = [
    "FeatureSet",
    "MoleculeLimits",
    "ParallelOptions",
    "Reject",
    "StandardizedBatch",
    "compute_features",
    "default_feature_set",
    "murcko_scaffold",
    "standardize_many",
    "standardize_smiles",
    "structural_alerts",
]
