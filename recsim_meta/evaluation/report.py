"""The benchmark report from ``results.csv``: Markdown tables (IQM with stratified bootstrap CIs, probability of
improvement, per-run metrics) and PNG plots (sample-efficiency curves per regime, per-domain bars)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsim_meta.evaluation.methods import METHODS, REFERENCES, REGIMES, SB3_METHODS
from recsim_meta.evaluation.results import read_rows
from recsim_meta.evaluation.statistics import probability_of_improvement_ci, stratified_bootstrap

FOCUS = ("meta_rl", "meta_finetuned")  # the methods whose probability of improvement over the others is reported
TEXT_COLUMNS = ("method", "regime", "task")


def read_results(path: str | Path) -> list[dict]:
    """The rows of ``results.csv`` with numbers as numbers (integers for seed, budget and steps); ``ValueError``
    naming a damaged line."""
    rows = read_rows(path)
    for row in rows:
        for name, text in row.items():
            if name not in TEXT_COLUMNS:
                row[name] = int(text) if name in ("seed", "budget", "steps") else float(text)
    return rows


def budgets_of(rows: list[dict]) -> list[int]:
    return sorted({r["budget"] for r in rows})


def methods_of(rows: list[dict]) -> list[str]:
    """The methods in ``rows`` in the order of ``METHODS``."""
    present = {r["method"] for r in rows}
    return [m for m in METHODS if m in present]


def regimes_of(rows: list[dict]) -> list[str]:
    return [g for g in REGIMES if any(r["regime"] == g for r in rows)]


def runs_budget(method: str, budget: int) -> int:
    """The budget of the runs that stand for ``method`` after ``budget`` steps: 0 for the methods that do not learn."""
    return 0 if method in REFERENCES else budget


def score_matrix(rows: list[dict], method: str, regime: str, budget: int, value: str = "score") -> np.ndarray | None:
    """``(seeds, tasks)`` values of ``method`` after ``budget`` steps (budget 0 for the methods that do not learn);
    ``None`` while a run of the grid is missing or the value is not finite (e.g. a degenerate task)."""
    budget = runs_budget(method, budget)
    regime_rows = [r for r in rows if r["regime"] == regime]
    seeds = sorted({r["seed"] for r in regime_rows})
    tasks = list(dict.fromkeys(r["task"] for r in regime_rows))
    table = {(r["seed"], r["task"]): r[value] for r in regime_rows if (r["method"], r["budget"]) == (method, budget)}
    if len(table) < len(seeds) * len(tasks):
        return None
    matrix = np.array([[table[(s, t)] for t in tasks] for s in seeds], dtype=np.float64)
    return matrix if np.isfinite(matrix).all() else None


def _interval(values: tuple[float, float, float] | None) -> str:
    return "n/a" if values is None else f"{values[0]:.2f} [{values[1]:.2f}, {values[2]:.2f}]"


def _iqm(rows: list[dict], method: str, regime: str, budget: int) -> tuple[float, float, float] | None:
    matrix = score_matrix(rows, method, regime, budget)
    return None if matrix is None else stratified_bootstrap(matrix)


def score_table(rows: list[dict], regime: str) -> str:
    """IQM normalised score [95 % CI] of each method after each budget ("(not run)" above a method's limit)."""
    budgets = budgets_of(rows)
    lines = ["| method | " + " | ".join(f"{b:,} steps" for b in budgets) + " |", "|---|" + "---:|" * len(budgets)]
    for method in methods_of(rows):
        if method in REFERENCES:
            cells = [_interval(_iqm(rows, method, regime, 0))] + ["(no learning)"] * (len(budgets) - 1)
        else:
            run = {r["budget"] for r in rows if r["method"] == method}
            cells = [_interval(_iqm(rows, method, regime, b)) if b in run else "(not run)" for b in budgets]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def steps_to_match_table(rows: list[dict], regime: str, target: str = "meta_rl") -> str | None:
    """For each SB3 agent, the smallest budget after which its IQM score reaches ``target``'s after the smallest
    budget ``target`` learned from (its adaptation), or "> the largest budget"; ``None`` without both."""
    budgets = sorted({r["budget"] for r in rows if r["method"] == target and r["regime"] == regime})
    learners = [m for m in methods_of(rows) if m in SB3_METHODS]
    if not budgets or not learners:
        return None
    budget = min([b for b in budgets if b > 0], default=0)
    goal = _iqm(rows, target, regime, budget)
    if goal is None:
        return None
    lines = [
        f"| method | task steps to reach {target}'s {goal[0]:.2f} (after {budget:,} steps) | score after the most steps |",
        "|---|---:|---:|",
    ]
    for method in learners:
        mine = sorted({r["budget"] for r in rows if r["method"] == method and r["regime"] == regime})
        scores = {b: _iqm(rows, method, regime, b) for b in mine}
        reached = [b for b in mine if scores[b] is not None and scores[b][0] >= goal[0]]
        cell = f"{reached[0]:,}" if reached else f"> {mine[-1]:,}"
        lines.append(f"| {method} | {cell} | {_interval(scores[mine[-1]])} |")
    return "\n".join(lines)


def oracle_match_table(rows: list[dict], regime: str, reference: str = "oracle") -> str | None:
    """Per task, the mean score over seeds of ``reference`` and of each SB3 agent after its largest budget, marked
    "(reached)" where it is at least ``reference``'s; ``None`` without both or while a run is missing."""
    learners = [m for m in methods_of(rows) if m in SB3_METHODS]
    regime_rows = [r for r in rows if r["regime"] == regime]
    if not learners or not any(r["method"] == reference for r in regime_rows):
        return None
    largest = {m: max(r["budget"] for r in regime_rows if r["method"] == m) for m in learners}
    matrices = [score_matrix(rows, m, regime, b) for m, b in [(reference, 0), *largest.items()]]
    if any(matrix is None for matrix in matrices):
        return None
    goals, *learned = [matrix.mean(axis=0) for matrix in matrices]  # per task, in score_matrix's task order
    lines = [
        f"| task | {reference} | " + " | ".join(f"{m} after {largest[m]:,} steps" for m in learners) + " |",
        "|---|---:|" + "---:|" * len(learners),
    ]
    for t, task in enumerate(dict.fromkeys(r["task"] for r in regime_rows)):
        cells = [f"{scores[t]:.2f}" + (" (reached)" if scores[t] >= goals[t] else "") for scores in learned]
        lines.append(f"| {task} | {goals[t]:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def improvement_table(rows: list[dict], regime: str, focus: str) -> str:
    """Probability that ``focus`` beats each other method (same budget) [95 % CI]; > 0.5 favours ``focus``."""
    budgets = budgets_of(rows)
    lines = [
        f"| P({focus} > method) | " + " | ".join(f"{b:,} steps" for b in budgets) + " |",
        "|---|" + "---:|" * len(budgets),
    ]
    for method in methods_of(rows):
        if method == focus:
            continue
        cells = []
        for budget in budgets:
            x, y = score_matrix(rows, focus, regime, budget), score_matrix(rows, method, regime, budget)
            cells.append("n/a" if x is None or y is None else _interval(probability_of_improvement_ci(x, y)))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_table(rows: list[dict], regime: str, budget: int) -> str:
    """Means over tasks and seeds after ``budget`` steps: return, score, CTR, session length, diversity, coverage."""
    names = ("steps", "return", "score", "ctr", "session_length", "diversity", "coverage")
    lines = ["| method | " + " | ".join(n.replace("_", " ") for n in names) + " |", "|---|" + "---:|" * len(names)]
    for method in methods_of(rows):
        mine = [
            r for r in rows if (r["method"], r["regime"], r["budget"]) == (method, regime, runs_budget(method, budget))
        ]
        if mine:
            values = [np.array([r[n] for r in mine], dtype=np.float64) for n in names]
            cells = [f"{np.mean(v[np.isfinite(v)]):.2f}" if np.isfinite(v).any() else "n/a" for v in values]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(rows: list[dict]) -> str:
    budget = max(budgets_of(rows))
    seeds, tasks = sorted({r["seed"] for r in rows}), list(dict.fromkeys(r["task"] for r in rows))
    parts = [
        "# Benchmark report",
        "",
        f"{len(seeds)} seeds x {len(tasks)} tasks ({', '.join(tasks)}); budgets are task-specific env steps. "
        "Scores are normalised from the random policy (0) to the planning oracle (1), "
        "`(R - R_random) / (R_planning - R_random)`, with the tasks' shipped reference scores; aggregates are "
        "interquartile means over tasks x seeds with 95 % stratified bootstrap confidence intervals, and "
        "probabilities of improvement over run pairs per task (rliable's definitions). Random, popularity, the "
        "myopic oracle (`oracle`) and the planning oracle (`planning`) do not learn. DQN acts in the single-item "
        "version of each task; the `_slate` methods use the slate policy (one network scores every candidate). "
        "`n/a`: a run of the grid is missing.",
    ]
    for regime in regimes_of(rows):
        title = regime.replace("_", " ")
        parts += ["", f"## {title}: IQM score", "", score_table(rows, regime)]
        matching = steps_to_match_table(rows, regime)
        if matching is not None:
            parts += ["", f"## {title}: steps to match the meta-RL agent", "", matching]
        reaching = oracle_match_table(rows, regime)
        if reaching is not None:
            parts += [
                "",
                f"## {title}: SB3 agents against the myopic oracle, per task (means over seeds)",
                "",
                reaching,
            ]
        for focus in (method for method in FOCUS if method in methods_of(rows)):
            parts += [
                "",
                f"## {title}: probability of improvement of {focus}",
                "",
                improvement_table(rows, regime, focus),
            ]
        parts += ["", f"## {title}: metrics after {budget:,} steps (means)", "", metrics_table(rows, regime, budget)]
    return "\n".join(parts) + "\n"


def method_colour(method: str) -> tuple[float, ...]:
    """A colour of its own for each of ``METHODS`` (matplotlib's tab20: 20 distinct colours), the same in every plot."""
    from matplotlib import colormaps

    return colormaps["tab20"](METHODS.index(method) % 20)


def plot_sample_efficiency(rows: list[dict], path: str | Path) -> None:
    """One panel per regime: IQM score [95 % CI] against the budget; methods that do not learn as flat lines."""
    from matplotlib import pyplot as plt

    regimes, budgets = regimes_of(rows), budgets_of(rows)
    figure, axes = plt.subplots(1, len(regimes), figsize=(5.5 * len(regimes), 4), squeeze=False)
    for axis, regime in zip(axes[0], regimes, strict=True):
        for method in methods_of(rows):
            if method in REFERENCES:
                value = _iqm(rows, method, regime, 0)
                if value is not None:
                    axis.axhline(value[0], linestyle="--", linewidth=1, color="k" if method == "planning" else "grey")
                    axis.annotate(method, (budgets[-1], value[0]), fontsize=7, ha="right", va="bottom")
                continue
            points = [(b, v) for b in budgets if (v := _iqm(rows, method, regime, b)) is not None]
            if not points:
                continue
            x = [b for b, _ in points]
            line = axis.plot(x, [v[0] for _, v in points], marker="o", label=method, color=method_colour(method))[0]
            axis.fill_between(
                x, [v[1] for _, v in points], [v[2] for _, v in points], alpha=0.12, color=line.get_color()
            )
        axis.set_xscale("symlog", linthresh=max(1, min([b for b in budgets if b > 0], default=1)))
        axis.set(title=regime.replace("_", " "), xlabel="task-specific env steps", ylabel="IQM normalised score")
        axis.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    _save(figure, path)


def plot_domains(rows: list[dict], path: str | Path) -> None:
    """Mean score per domain (over its tasks and seeds) of every method after the largest budget, as grouped bars."""
    from matplotlib import pyplot as plt

    budget = max(budgets_of(rows))
    domains = list(dict.fromkeys(r["task"].split("/")[0] for r in rows))
    methods = methods_of(rows)
    figure, axis = plt.subplots(figsize=(max(6, 1.4 * len(domains) + 2), 4))
    width = 0.8 / len(methods)
    for m, method in enumerate(methods):
        means = []
        for domain in domains:
            scores = [
                r["score"]
                for r in rows
                if (r["method"], r["budget"]) == (method, runs_budget(method, budget))
                and r["task"].split("/")[0] == domain
            ]
            means.append(np.nanmean(scores) if scores else np.nan)  # nan: no run of this budget (no bar)
        axis.bar(
            np.arange(len(domains)) + (m - (len(methods) - 1) / 2) * width,
            means,
            width,
            label=method,
            color=method_colour(method),
        )
    axis.set_xticks(np.arange(len(domains)), domains)
    axis.set(ylabel=f"mean normalised score ({budget:,} steps)")
    axis.axhline(0, color="k", linewidth=0.8)
    axis.legend(fontsize=7, ncol=2)
    axis.grid(alpha=0.3, axis="y")
    _save(figure, path)


def _save(figure, path: str | Path) -> None:
    from matplotlib import pyplot as plt

    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(results: str | Path, out: str | Path) -> Path:
    """``out/report.md``, ``out/sample_efficiency.png`` and ``out/domains.png`` from ``results``; returns the report."""
    import matplotlib

    matplotlib.use("Agg")
    rows = read_results(results)
    if not rows:
        raise ValueError(f"{results} has no finished runs to report")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_sample_efficiency(rows, out / "sample_efficiency.png")
    plot_domains(rows, out / "domains.png")
    report = out / "report.md"
    report.write_text(markdown_report(rows))
    return report
