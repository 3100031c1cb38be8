"""Observe: runs and functions as views. ``run_view`` and ``function_view`` decide what a
view shows from what the runtime records (pure data), ``html`` renders it, and
``widgets/`` (the only place that imports ipywidgets, plotly and anywidget) shows it live
in JupyterLab. Nothing here is on the engine's hot path.
"""
