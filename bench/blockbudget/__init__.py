"""Worst-case end-block CPU of K Krum rounds closing at one height, without and with the per-block
aggregation budget (tasks.max_block_aggregation_work).

In-process: K running tasks with every update revealed are written straight into a store (not
timed); then tasks/hooks.process_end_block runs the closing height and the heights after it until
every round is aggregated, each end-block timed on its own. "Unbounded" sets the block budget so
high that every round runs in the closing block (the behaviour before the budget); "budget" uses
the default ratio to max_aggregation_work (2 rounds at the bound). Sizes default to 1/4 of the
bound (16 workers x 262,144 parameters, 2^25 entry operations a round) so a run fits a small
machine; the report scales the CPU seconds by the bound's ratio (linear in d for Krum); --size
1048576 runs at the bound. CPU seconds (process_time) are reported beside wall seconds: on a
shared machine the wall clock also counts other processes.

    python -m bench.blockbudget [--tasks 8] [--size 262144] [--workers 16]
"""
