"""Pages built from the code when the site is built (mkdocs-gen-files): one per environment, from its class
docstring, its preset and its shipped reference scores, and the reference-score table wherever a page asks
for it (``<!-- reference scores -->``), so that they cannot drift from the code. Tables that experiments
print are kept in ``docs/results/`` and included with ``--8<--`` (pymdownx.snippets)."""

import dataclasses
import inspect
import re
from pathlib import Path

import gymnasium as gym
import mkdocs_gen_files

import recsim_meta
from recsim_meta.envs import PRESETS
from recsim_meta.evaluation.references import POLICIES, reference, reference_table

NAMES = {"random": "random", "popularity": "popularity", "oracle": "myopic oracle", "planning": "planning oracle"}


def page_name(env_id: str) -> str:
    return env_id.split("/")[1].removesuffix("-v0").lower()


def scores_table(env_id: str) -> str:
    found = reference(env_id)
    lines = ["| policy | mean return [95 % CI] | normalised score |", "|---|---:|---:|"]
    for policy in POLICIES:
        mean, low, high = found.scores[policy]
        lines.append(
            f"| {NAMES[policy]} | {mean:.1f} [{low:.1f}, {high:.1f}] | {recsim_meta.normalized_score(env_id, mean):.2f} |"
        )
    price = "each task's own" if found.price is None else f"{found.price:.3g} reward per unit of budget"
    return "\n".join(lines) + f"\n\n{found.episodes} episodes per policy; the planning oracle's price: {price}."


def preset_table(env_id: str) -> str:
    name = next((p for p, preset in PRESETS.items() if preset.env_id == env_id), None)
    if name is None:
        return ""
    lines = ["| field | value |", "|---|---|"]
    for field in dataclasses.fields(PRESETS[name]):
        if field.name in ("description", "long_horizon"):
            continue
        value = repr(getattr(PRESETS[name], field.name)).replace("|", "\\|")
        lines.append(f"| `{field.name}` | `{value}` |")
    return (
        "## Preset\n\nThe `DomainConfig` of the id; any field can be overridden with `gym.make(id, field=value)`.\n\n"
        + "\n".join(lines)
    )


index = [
    "# Environments",
    "",
    "Every registered id, with its reference scores (mean return of each reference policy on the "
    "default task over 200 users; `recsim-meta reference-scores` makes them):",
    "",
    reference_table(),
    "",
]
for env_id in recsim_meta.ENV_IDS:
    env = gym.make(env_id)
    doc = inspect.cleandoc(type(env.unwrapped).__doc__)
    title, _, body = doc.partition("\n")
    parts = [
        f"# `{env_id}`",
        "",
        title.split(":", 1)[1].strip().capitalize(),
        body,
        "",
        "## Reference scores",
        "",
        scores_table(env_id),
        "",
        preset_table(env_id),
    ]
    with mkdocs_gen_files.open(f"envs/{page_name(env_id)}.md", "w") as page:
        page.write("\n".join(parts) + "\n")
    index.append(f"- [`{env_id}`]({page_name(env_id)}.md)")
with mkdocs_gen_files.open("envs/index.md", "w") as page:
    page.write("\n".join(index) + "\n")

RESULTS = Path(__file__).parent / "results"


def report(name: str) -> str:
    """A report kept in ``docs/results/`` (a benchmark's ``report.md``), its headings one level down."""
    text = (RESULTS / name).read_text()
    return re.sub(r"^(#+) ", lambda match: "#" + match.group(1) + " ", text, flags=re.MULTILINE)


for page in ("user-model.md", "benchmark.md", "meta-rl.md"):
    with mkdocs_gen_files.open(page, "r") as file:
        text = file.read()
    text = text.replace("<!-- reference scores -->", reference_table())
    text = re.sub(r"<!-- report (\S+) -->", lambda match: report(match.group(1)), text)
    with mkdocs_gen_files.open(page, "w") as file:
        file.write(text)
