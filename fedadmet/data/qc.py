"""Quality-control report for a loaded data set: what a curator checks before training on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from fedadmet.data.catalogue import Endpoint, find_endpoint
from fedadmet.data.loaders import MoleculeTable

OUTLIER_ROBUST_Z = 5.0
REGRESSION_CONFLICT_SPREAD = 1.0  # max - min of replicate values on the model scale


@dataclass
class LabelSummary:
    column: str
    endpoint: str | None
    kind: str
    n_labelled: int
    minimum: float | None
    maximum: float | None
    mean: float | None
    positives: int | None = None
    conflicting_duplicates: int = 0
    conflict_examples: list[str] = field(default_factory=list)
    outlier_rows: list[int] = field(default_factory=list)
    problem: str | None = None  # why these labels cannot train their endpoint


@dataclass
class QCReport:
    source: str
    rows: int
    valid_rows: int
    rejects: list[dict[str, object]]
    unique_molecules: int
    duplicated_molecules: int
    labels: list[LabelSummary]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def to_markdown(self) -> str:
        lines = [
            f"# QC report: {self.source}",
            "",
            f"- rows: {self.rows}; usable: {self.valid_rows}; rejected: {len(self.rejects)}",
            f"- unique molecules (canonical SMILES): {self.unique_molecules}; "
            f"molecules on more than one row: {self.duplicated_molecules}",
            "",
        ]
        if self.labels:
            lines += [
                "| label | endpoint | kind | labelled | min | max | mean | positives | conflicting duplicates "
                "| outliers |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for s in self.labels:
                lines.append(
                    f"| {s.column} | {s.endpoint or '-'} | {s.kind} | {s.n_labelled} | {_fmt(s.minimum)} | "
                    f"{_fmt(s.maximum)} | {_fmt(s.mean)} | {'-' if s.positives is None else s.positives} | "
                    f"{s.conflicting_duplicates} | {len(s.outlier_rows)} |"
                )
            lines.append("")
        if self.rejects:
            lines += ["## Rejected rows", "", "| row | input | reason |", "|---|---|---|"]
            for reject in self.rejects[:200]:
                lines.append(f"| {reject['row']} | `{str(reject['input'])[:60]}` | {reject['reason']} |")
            if len(self.rejects) > 200:
                lines.append(f"| … | {len(self.rejects) - 200} more | |")
            lines.append("")
        for s in self.labels:
            if s.conflict_examples or s.outlier_rows or s.problem:
                lines.append(f"## {s.column}")
                if s.problem:
                    lines.append(f"- **cannot train {s.endpoint}**: {s.problem}")
                if s.conflict_examples:
                    lines.append(f"- conflicting duplicates, e.g.: {', '.join(f'`{x}`' for x in s.conflict_examples)}")
                if s.outlier_rows:
                    lines.append(f"- outlier rows (robust z > {OUTLIER_ROBUST_Z:g}): {s.outlier_rows[:50]}")
                lines.append("")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def qc_report(table: MoleculeTable, endpoints: dict[str, str] | None = None) -> QCReport:
    """Summarise rows, rejects, duplicates, label ranges, conflicts and outliers.

    ``endpoints`` maps label columns to catalogue names so that task type and transform are known;
    columns named like a catalogue endpoint are recognised without it.
    """
    endpoints = endpoints or {}
    valid = table.valid
    rejects = [
        {"row": r.index + 1, "input": r.smiles, "reason": r.reason} for r in table.rejects
    ]  # 1-based data rows, as a person counts them
    counts = valid["smiles"].value_counts()
    summaries = [
        _label_summary(valid, column, find_endpoint(endpoints.get(column, column))) for column in table.label_columns
    ]
    return QCReport(
        source=table.source,
        rows=len(table.frame),
        valid_rows=len(valid),
        rejects=rejects,
        unique_molecules=len(counts),
        duplicated_molecules=int((counts > 1).sum()),
        labels=summaries,
    )


def _label_summary(valid: pd.DataFrame, column: str, endpoint: Endpoint | None) -> LabelSummary:
    rows = valid[valid[column].notna()]
    values = rows[column].astype(float)
    distinct = set(np.unique(values)) if len(values) else set()
    is_classification = endpoint.is_classification if endpoint else distinct <= {0.0, 1.0}
    summary = LabelSummary(
        column=column,
        endpoint=endpoint.name if endpoint else None,
        kind="classification" if is_classification else "regression",
        n_labelled=len(rows),
        minimum=float(values.min()) if len(values) else None,
        maximum=float(values.max()) if len(values) else None,
        mean=float(values.mean()) if len(values) else None,
    )
    if not len(rows):
        return summary
    if endpoint is not None:
        summary.problem = endpoint.label_problem(values.to_numpy())
    scaled = values.to_numpy()
    if endpoint is not None and not is_classification and (scaled > 0).all():
        scaled = endpoint.to_model_scale(scaled)
    spread = pd.Series(scaled).groupby(rows["smiles"].to_numpy()).agg(lambda v: v.max() - v.min())
    if is_classification:
        summary.positives = int((values == 1).sum())
        conflicts = spread[spread > 0]
    else:
        conflicts = spread[spread > REGRESSION_CONFLICT_SPREAD]
        median = np.median(scaled)
        mad = np.median(np.abs(scaled - median)) * 1.4826 or 1.0
        outliers = np.abs(scaled - median) / mad > OUTLIER_ROBUST_Z
        summary.outlier_rows = [int(r) + 1 for r in rows["row"].to_numpy()[outliers]]
    summary.conflicting_duplicates = len(conflicts)
    summary.conflict_examples = [str(s) for s in conflicts.index[:5]]
    return summary
