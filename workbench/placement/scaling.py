"""How many compute workers a forecast arrival rate needs (pure: numbers in, numbers out).

:class:`Forecaster` keeps the arrival-rate history (calls/s, one value per control
interval) and predicts the next steps with exponential smoothing from statsmodels, refit
on the recent history at every step: Holt-Winters with an additive season once two
seasons have been seen (a seasonal model needs two to learn from), Holt's damped trend
before that, the last value before there are eight. :func:`workers_for` turns a rate into
workers: calls in service at once (rate x service time, Little's law) over the threads a
worker has, at a target utilization.

>>> f = Forecaster(season_steps=4)
>>> for r in [1, 5, 9, 5] * 3:
...     f.add(r)
>>> [round(x) for x in f.predict(4)], f.model
([1, 5, 9, 5], 'holt-winters')
>>> workers_for(40.0, service_s=0.05, threads=2, utilization=0.8)
2
>>> least_worker_seconds([10.0, 30.0, 50.0], bin_s=1.0, service_s=0.1, threads=2)
6.0
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np


class Forecaster:
    """The arrival rate's next steps from its history (see the module docstring).

    ``season_steps``: control intervals per season (``None``: no season);
    ``seasons_kept``: how many seasons of history each refit uses.
    """

    def __init__(self, season_steps: int | None = None, seasons_kept: int = 3,
                 keep: int = 600) -> None:
        self.season_steps = season_steps if season_steps and season_steps >= 2 else None
        self.keep = max(keep, (seasons_kept * self.season_steps) if self.season_steps
                        else keep)
        self.seasons_kept = seasons_kept
        self.history: list[float] = []
        self.model = "none"

    def add(self, rate: float) -> None:
        self.history.append(max(float(rate), 0.0))
        del self.history[:-self.keep]

    def predict(self, steps: int) -> np.ndarray:
        """The next ``steps`` values (never below zero); sets ``model`` to what made
        them."""
        steps = max(int(steps), 1)
        y = np.asarray(self.history, float)
        if not len(y):
            self.model = "none"
            return np.zeros(steps)
        m = self.season_steps
        try:
            if m and len(y) >= 2 * m:
                out = self._fit(y[-self.seasons_kept * m:], steps, seasonal=m)
                self.model = "holt-winters"
            elif len(y) >= 8:
                out = self._fit(y[-120:], steps, seasonal=None)
                self.model = "holt"
            else:
                out = np.full(steps, y[-1])
                self.model = "last"
        except (ValueError, np.linalg.LinAlgError):
            out = np.full(steps, y[-1])          # a degenerate history (all zeros, say)
            self.model = "last"
        return np.maximum(np.nan_to_num(out, nan=y[-1]), 0.0)

    @staticmethod
    def _fit(y: np.ndarray, steps: int, seasonal: int | None) -> np.ndarray:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        if np.ptp(y) == 0:
            return np.full(steps, y[-1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # convergence notes on short histories
            if seasonal:
                model = ExponentialSmoothing(y, trend=None, seasonal="add",
                                             seasonal_periods=seasonal,
                                             initialization_method="estimated")
            else:
                model = ExponentialSmoothing(y, trend="add", damped_trend=True,
                                             initialization_method="estimated")
            return np.asarray(model.fit().forecast(steps), float)


def workers_for(rate: float, service_s: float, threads: int, utilization: float = 0.8) -> int:
    """Workers of ``threads`` threads that serve ``rate`` calls/s of ``service_s`` seconds
    each at ``utilization`` (at least one)."""
    busy = max(rate, 0.0) * max(service_s, 0.0)
    return max(1, math.ceil(busy / (max(threads, 1) * utilization) - 1e-9))


def least_worker_seconds(rate: Any, bin_s: float, service_s: float, threads: int,
                         minimum: int = 1) -> float:
    """The fewest worker-seconds that keep up with an arrival-rate trace (``rate``:
    calls/s per bin of ``bin_s`` seconds): in each bin, the fewest workers whose threads
    serve the arrivals at utilization 1 (at least ``minimum``). A lower bound for every
    policy, even one that knows the trace beforehand and starts workers at once: one
    that spends less lets the queue grow."""
    return float(sum(max(minimum, workers_for(r, service_s, threads, 1.0))
                     for r in np.asarray(rate, float)) * bin_s)
