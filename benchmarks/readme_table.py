"""Copy the committed benchmark tables into the README between its markers, so the README stays true.

.venv/bin/python -m benchmarks.readme_table
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- tdc-results:start -->", "<!-- tdc-results:end -->"


def main() -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    table = (REPO / "benchmarks" / "results" / "tdc.md").read_text().split("\n", 2)[2].strip()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
