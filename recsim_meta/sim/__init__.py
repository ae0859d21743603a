"""The generative model: numpy + networkx only (no gymnasium, no torch)."""

from recsim_meta.sim.tasks import Task, TaskSplits, make_splits, sample_tasks

__all__ = ["Task", "TaskSplits", "make_splits", "sample_tasks"]
