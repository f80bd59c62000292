"""Copy the committed benchmark tables into the README between their markers, so the README stays true.

.venv/bin/python -m benchmarks.readme_table

Each ``benchmarks/results/<name>.md`` (its ``# `` title line dropped) replaces the text between
``<!-- <name>-results:start -->`` and ``<!-- <name>-results:end -->``; a result not yet committed
leaves its section as it is.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLES = ("tdc", "throughput")  # the consortium section summarises federated.md in prose


def with_table(text: str, name: str, table: str) -> str:
    start, end = f"<!-- {name}-results:start -->", f"<!-- {name}-results:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}\n{end}{tail}"


def without_title(table: str) -> str:
    first, _, rest = table.partition("\n")
    return (rest if first.startswith("# ") else table).strip()


def main() -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    for name in TABLES:
        result = REPO / "benchmarks" / "results" / f"{name}.md"
        if result.is_file():
            text = with_table(text, name, without_title(result.read_text()))
    readme.write_text(text)


if __name__ == "__main__":
    main()
