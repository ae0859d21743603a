"""The documentation site builds with no warning (``mkdocs build --strict``), its generated pages included, and
the README stays short and in step with CI and the docs' result files."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_site_builds_strictly(tmp_path):
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for env_page in (
        "ecommerce",
        "news",
        "video",
        "social",
        "game",
        "finance",
        "videointerestevolution",
        "multidomain",
    ):
        assert (tmp_path / "site" / "envs" / env_page / "index.html").is_file()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in README
    assert "pip install -c constraints.txt -e . && recsim-meta demo" in README


def test_the_readmes_python_runs_as_written():
    import torch

    torch.set_num_threads(1)
    blocks = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_the_readme_is_short_and_speaks_about_the_project():
    assert len(README.splitlines()) <= 200
    assert not re.search(r"\bissue\b|\bcommit\b|\b[0-9a-f]{7}\b", README, re.IGNORECASE)


def test_every_time_in_the_reproducing_table_was_measured():
    rows = [line for line in (ROOT / "docs" / "reproducing.md").read_text().splitlines() if line.startswith("| ")]
    assert len(rows) > 5
    for row in rows[1:]:
        time = row.rstrip(" |").rsplit("|", 1)[-1]
        assert re.search(r"\d+ (s|min|h)\b", time), f"no measured time in {row!r}"


def tables(text: str) -> list[str]:
    """The Markdown tables of ``text``: runs of lines that start with ``|``."""
    found, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append("\n".join(current))
            current = []
    return found


def test_tables_the_readme_shares_with_the_docs_are_the_same():
    """A README table whose header is that of a table in ``docs/results/`` (what the experiments printed) is one
    of those tables, line for line: the README cannot drift from the results."""
    results = [table for path in sorted((ROOT / "docs" / "results").glob("*.md")) for table in tables(path.read_text())]
    headers = {table.splitlines()[0] for table in results}
    shared = [table for table in tables(README) if table.splitlines()[0] in headers]
    assert shared, "the README shows no table of docs/results"
    for table in shared:
        assert table in results, table.splitlines()[:3]


def test_the_readmes_reference_scores_are_the_shipped_ones():
    from recsim_meta.evaluation.references import reference_table

    assert reference_table() in README
