"""Train one chemprop D-MPNN on a multitask table and predict a list of molecules (run by benchmarks.generalise.graph).

Runs inside ADMET-AI's environment (benchmarks/admet_ai.py), which holds chemprop and Lightning; it imports nothing
from fedadmet. Inputs are standardised parents written by the caller:

    python chemprop_member.py --train train.csv --predict predict.csv --out out.csv [--descriptors] [--seed 0]

``train.csv``: a ``smiles`` column and one column per task (NaN where unmeasured); ``predict.csv``: ``smiles``.
``out.csv``: one row per predicted molecule, one column per task, on the training labels' scale (NaN where RDKit
cannot parse the molecule). ``--descriptors`` appends RDKit's 2D descriptors (signed log1p, standardised) to the
learned molecule vector, as Chemprop-RDKit does.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from chemprop import data, featurizers, models, nn
from lightning import pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors

VALID_FRACTION = 0.1  # random molecules that stop training (the best epoch's weights are kept)


def descriptors(mol: Chem.Mol) -> np.ndarray:
    """RDKit's 2D descriptors, compressed by a signed log1p so that a few huge values (Ipc) do not dominate."""
    values = np.array(list(Descriptors.CalcMolDescriptors(mol).values()), dtype=float)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return np.sign(values) * np.log1p(np.abs(values))


def datapoints(mols: list[Chem.Mol], targets: np.ndarray | None, with_descriptors: bool) -> list:
    return [
        data.MoleculeDatapoint(
            mol, None if targets is None else targets[i], x_d=descriptors(mol) if with_descriptors else None
        )
        for i, mol in enumerate(mols)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--predict", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--descriptors", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    RDLogger.DisableLog("rdApp.*")
    torch.set_num_threads(args.threads)

    table = pd.read_csv(args.train)
    tasks = [c for c in table.columns if c != "smiles"]
    mols = [Chem.MolFromSmiles(s) for s in table["smiles"]]
    parsed = np.array([m is not None for m in mols])
    targets = table.loc[parsed, tasks].to_numpy(dtype=float)
    points = datapoints([m for m in mols if m is not None], targets, args.descriptors)
    order = np.random.default_rng(args.seed).permutation(len(points))
    n_valid = int(len(points) * VALID_FRACTION)
    featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()
    train = data.MoleculeDataset([points[i] for i in order[n_valid:]], featurizer)
    valid = data.MoleculeDataset([points[i] for i in order[:n_valid]], featurizer)
    target_scaler = train.normalize_targets()
    valid.normalize_targets(target_scaler)
    descriptor_transform, extra = None, 0
    if args.descriptors:
        descriptor_scaler = train.normalize_inputs("X_d")
        valid.normalize_inputs("X_d", descriptor_scaler)
        descriptor_transform, extra = nn.ScaleTransform.from_standard_scaler(descriptor_scaler), train.d_xd

    pl.seed_everything(args.seed)
    message_passing = nn.BondMessagePassing(d_h=300, depth=3)
    head = nn.RegressionFFN(
        n_tasks=len(tasks),
        input_dim=message_passing.output_dim + extra,
        hidden_dim=300,
        n_layers=1,
        dropout=0.1,
        output_transform=nn.UnscaleTransform.from_standard_scaler(target_scaler),
    )
    model = models.MPNN(
        message_passing, nn.MeanAggregation(), head, batch_norm=True, X_d_transform=descriptor_transform
    )
    with tempfile.TemporaryDirectory(prefix="chemprop-member-") as work:
        best = ModelCheckpoint(dirpath=work, monitor="val_loss", mode="min", save_top_k=1)
        trainer = pl.Trainer(
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
            devices=1,
            max_epochs=args.epochs,
            callbacks=[best, EarlyStopping("val_loss", patience=8)],
        )
        trainer.fit(
            model,
            data.build_dataloader(train, batch_size=64, num_workers=0, seed=args.seed),
            data.build_dataloader(valid, batch_size=256, num_workers=0, shuffle=False),
        )
        print(f"best epoch: {best.best_model_path}, validation loss {float(best.best_model_score):.4f}", flush=True)
        model = models.MPNN.load_from_checkpoint(best.best_model_path)

    queries = [Chem.MolFromSmiles(s) for s in pd.read_csv(args.predict)["smiles"]]
    known = np.array([m is not None for m in queries])
    dataset = data.MoleculeDataset(
        datapoints([m for m in queries if m is not None], None, args.descriptors), featurizer
    )
    loader = data.build_dataloader(dataset, batch_size=256, num_workers=0, shuffle=False)
    predicted = torch.cat(trainer.predict(model, loader)).numpy()
    out = np.full((len(queries), len(tasks)), np.nan)
    out[known] = predicted
    pd.DataFrame(out, columns=tasks).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
