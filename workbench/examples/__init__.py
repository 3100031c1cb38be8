"""Example programs built on the public API, each with an independent numpy reference.

``quickstart``: the program of the README's tour (``scale >> mean4 >> running_sum``).
Benchmarks, tests and notebooks take their programs from here, so each exists once.
"""
