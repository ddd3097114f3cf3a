"""The statistics a study reports: means with t-intervals, paired differences, medians with quartiles.

    mean_interval([0.91, 0.93, 0.92, 0.90, 0.94])
    # {"mean": 0.92, "ci95": [0.900, 0.940], "n": 5, "sd": 0.0158}
    paired_difference(prelu_accuracy, relu_accuracy)     # same seeds, in the same order
    # {"mean": ..., "ci95": [...], "n": 5, "sd": ..., "includes_zero": True}
    median_iqr([1.02, 0.98, 1.05, 1.01, 0.99])
    # {"median": 1.01, "iqr": [0.99, 1.02], "n": 5}

The Student t quantile is computed here (regularized incomplete beta by its
continued fraction, inverted by bisection), so the study needs no SciPy; the
tests compare it with SciPy where that is installed.
"""

import math

import numpy as np

CONFIDENCE = 0.95
_EPSILON = 1e-15
_TINY = 1e-300


def _beta_continued_fraction(a, b, x):
    """The continued fraction of the regularized incomplete beta (modified Lentz)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    result = d
    for m in range(1, 400):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            result *= c * d
        if abs(c * d - 1.0) < _EPSILON:
            break
    return result


def regularized_beta(a, b, x):
    """I_x(a, b), the regularized incomplete beta function, for a, b > 0 and x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t, df):
    """P(T <= t) for Student's t with `df` > 0 degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p, df):
    """The `p` quantile (0 < p < 1) of Student's t with `df` > 0 degrees of freedom."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1). Received: p={p!r}")
    if not df > 0:
        raise ValueError(f"df must be > 0. Received: df={df!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def _finite(values):
    """The values that are not None, as a float64 array."""
    return np.asarray([float(v) for v in values if v is not None], np.float64)


def mean_interval(values, confidence=CONFIDENCE, bounds=None):
    """Mean, two-sided t-interval of the mean, n and sample sd of the values that are not None.

    `bounds` (low, high) clips the interval to the values' possible range (a
    share lies in [0, 1]). One value: the interval and sd are None; no value:
    everything but n is None.
    """
    x = _finite(values)
    n = int(x.size)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0, "sd": None}
    mean = float(np.mean(x))
    if n == 1:
        return {"mean": mean, "ci95": None, "n": 1, "sd": None}
    sd = float(np.std(x, ddof=1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "ci95": [low, high], "n": n, "sd": sd}


def paired_difference(values, reference, confidence=CONFIDENCE):
    """`mean_interval` of values[i] - reference[i] (pairs with a None are dropped), plus
    `includes_zero`: whether the interval contains 0 (None without an interval)."""
    if len(values) != len(reference):
        raise ValueError("paired_difference needs as many values as reference values. "
                         f"Received: {len(values)} and {len(reference)}")
    differences = [v - r for v, r in zip(values, reference) if v is not None and r is not None]
    result = mean_interval(differences, confidence)
    interval = result["ci95"]
    result["includes_zero"] = None if interval is None else bool(interval[0] <= 0.0 <= interval[1])
    return result


def median_iqr(values):
    """Median and interquartile range [first quartile, third quartile] (linear interpolation)."""
    x = _finite(values)
    if x.size == 0:
        return {"median": None, "iqr": None, "n": 0}
    q1, median, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
    return {"median": median, "iqr": [q1, q3], "n": int(x.size)}


def difference_words(difference, unit=""):
    """A paired difference in words: "no measurable difference at n=5" when the interval holds 0."""
    n = difference["n"]
    if difference["includes_zero"] is None:
        return f"no interval at n={n}" if n else "not measured"
    if difference["includes_zero"]:
        return f"no measurable difference at n={n}"
    direction = "higher" if difference["mean"] > 0 else "lower"
    return f"{direction}{unit} at n={n}"
