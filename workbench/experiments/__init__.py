"""Reproducible experiments: one notebook per question, run by papermill with parameters,
recorded with its environment (``data/results/NAME/RUN_ID/``), listed, compared and
reported.

In a notebook::

    from workbench.experiments import Results
    res = Results(results_dir, "04_recovery", question="...", parameters=dict(size=size))
    res.table("recovery", df, measured=("back_s",))
    res.figure("throughput", fig)

On the command line: ``workbench experiment run notebooks/04_recovery.ipynb -p size=small``,
``workbench experiment list``, ``compare RUN_A RUN_B``, ``report``.
"""

from .record import ExperimentError, Results

__all__ = ["ExperimentError", "Results"]
