"""Interleaved timing rounds shared by the benchmark scripts.

    times = time_in_rounds({"relu": step_a, "prelu": step_b}, rounds=15, calls=20, finish=wait)
    times["prelu"]            # seconds per call, one value per round
    same_round_ratio(times["prelu"], times["relu"])   # (median, min, max) of same-round ratios

Every case is called 3 times first (tracing, compilation); then each round runs
`calls` calls of every case in turn and `finish(last_output)` waits for the
result, so all cases see the same machine load and same-round ratios can be taken.
"""

import statistics
import time


def time_in_rounds(cases, rounds, calls, finish):
    """{key: [seconds per call in each round]} for the callables in `cases`."""
    for run in cases.values():
        for _ in range(3):
            run()
    times = {key: [] for key in cases}
    for _ in range(rounds):
        for key, run in cases.items():
            start = time.perf_counter()
            for _ in range(calls):
                out = run()
            finish(out)
            times[key].append((time.perf_counter() - start) / calls)
    return times


def same_round_ratio(numerators, denominators):
    """(median, min, max) over rounds of numerator / denominator taken in the same round."""
    ratios = [n / d for n, d in zip(numerators, denominators)]
    return statistics.median(ratios), min(ratios), max(ratios)
