"""The README's front page: its example DAGs build against the real operators, and its links resolve.

A user copies these snippets first; a renamed or removed constructor argument must fail here, not in their DAG.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    found, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#+ (.*)", line)):
            found.add(_slug(match.group(1)))
    return found


def test_the_readme_starts_with_what_it_is_then_the_two_commands() -> None:
    text = README.read_text()
    assert text.startswith("# airflow-zaloni\n")
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.splitlines()] == [["make", "demo"], ["make", "test"]]


def test_every_example_dag_of_the_readme_builds(tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    blocks = PYTHON_BLOCK.findall(README.read_text())
    assert len(blocks) >= 7, "one example per source, promotion and a Spark job"
    # "the first one's imports serve the others": one DAG file of all blocks, loaded as the DAG processor loads it
    dag_file = tmp_path / "readme_dags.py"
    dag_file.write_text("\n".join(blocks))
    bag = DagBag(dag_folder=str(dag_file))
    assert not bag.import_errors
    assert len(bag.dags) == len(blocks)
    for dag in bag.dags.values():
        assert dag.tasks and all(type(task).__module__.startswith("airflow_zaloni.") for task in dag.tasks), dag


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_links_of_the_documentation_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, fragment = target.partition("#")
        linked = page.parent / path if path else page
        if not linked.exists() or (fragment and linked.suffix == ".md" and fragment not in _anchors(linked)):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"
