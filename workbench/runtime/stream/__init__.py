"""The Dask stream engine: Dask is the control plane, batches flow worker to worker.

``engine.py`` (client: plan, compile, start, watch), ``instance.py`` (a stage instance: one
long-lived task), ``channels.py`` (credit-based channels over Dask's comm layer),
``worker.py`` (per-worker run state and control functions).
"""
