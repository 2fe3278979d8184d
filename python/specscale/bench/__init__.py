"""Test-time-scaling benchmark: datasets, answers, drivers, replay, cost model, runner, reports."""
