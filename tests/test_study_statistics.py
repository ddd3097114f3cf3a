"""keras_prelu.study.statistics and claims: the study's numbers against known values."""

import math

import numpy as np
import pytest

from keras_prelu.study import claims, statistics

# Two-sided 95% critical values of Student's t (published tables, 7 significant digits).
T_975 = {1: 12.70620, 2: 4.302653, 3: 3.182446, 4: 2.776445, 9: 2.262157, 10: 2.228139,
         30: 2.042272, 120: 1.979930}


@pytest.mark.parametrize("df,expected", sorted(T_975.items()))
def test_t_quantile_matches_the_tables(df, expected):
    assert statistics.t_quantile(0.975, df) == pytest.approx(expected, rel=2e-6)
    assert statistics.t_quantile(0.025, df) == pytest.approx(-expected, rel=2e-6)


def test_t_quantile_matches_scipy_where_installed():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 5, 7, 12, 29, 60, 500, 0.5, 2.5):
        for p in (0.5, 0.6, 0.9, 0.95, 0.975, 0.995, 0.9995, 0.01):
            assert statistics.t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-8, abs=1e-10)


def test_t_cdf_is_the_inverse_and_symmetric():
    for df in (1, 4, 30):
        for t in (-3.0, -0.5, 0.0, 1.2, 6.0):
            assert statistics.t_cdf(statistics.t_quantile(statistics.t_cdf(t, df), df), df) == \
                pytest.approx(statistics.t_cdf(t, df), abs=1e-12)
            assert statistics.t_cdf(t, df) + statistics.t_cdf(-t, df) == pytest.approx(1.0)
    assert statistics.t_cdf(0.0, 3) == 0.5


def test_bad_quantile_arguments_raise():
    for p in (0.0, 1.0, -0.1, 2):
        with pytest.raises(ValueError, match="p must be in"):
            statistics.t_quantile(p, 3)
    with pytest.raises(ValueError, match="df must be"):
        statistics.t_quantile(0.9, 0)


def test_mean_interval_by_hand():
    # x = 1..5: mean 3, sd sqrt(2.5), half width t(0.975, 4) * sd / sqrt(5).
    result = statistics.mean_interval([1, 2, 3, 4, 5])
    half = 2.776445105 * math.sqrt(2.5) / math.sqrt(5)
    assert result["mean"] == 3.0 and result["n"] == 5
    assert result["sd"] == pytest.approx(math.sqrt(2.5))
    assert result["ci95"] == pytest.approx([3 - half, 3 + half], rel=1e-9)


def test_mean_interval_edge_cases():
    assert statistics.mean_interval([]) == {"mean": None, "ci95": None, "n": 0, "sd": None}
    assert statistics.mean_interval([0.7]) == {"mean": 0.7, "ci95": None, "n": 1, "sd": None}
    assert statistics.mean_interval([None, 0.5, None, 0.5])["ci95"] == [0.5, 0.5]
    clipped = statistics.mean_interval([0.0, 0.0, 0.3], bounds=(0.0, 1.0))
    assert clipped["ci95"][0] == 0.0 and clipped["ci95"][1] < 1.0


def test_paired_difference_uses_the_pairs_not_the_groups():
    # Large spread between seeds, a constant +0.01 within each pair: the paired interval is tight.
    reference = [0.50, 0.70, 0.90, 0.60, 0.80]
    values = [r + 0.01 for r in reference]
    result = statistics.paired_difference(values, reference)
    assert result["mean"] == pytest.approx(0.01)
    assert result["ci95"] == pytest.approx([0.01, 0.01])
    assert result["includes_zero"] is False
    assert statistics.difference_words(result) == "higher at n=5"
    noisy = statistics.paired_difference([0.5, 0.7, 0.6], [0.6, 0.6, 0.6])
    assert noisy["includes_zero"] is True
    assert statistics.difference_words(noisy) == "no measurable difference at n=3"
    with pytest.raises(ValueError, match="as many values"):
        statistics.paired_difference([1, 2], [1])


def test_paired_difference_matches_scipy_ttest_rel():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=7), rng.normal(size=7)
    ours = statistics.paired_difference(list(a), list(b))
    interval = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert ours["ci95"] == pytest.approx([interval.low, interval.high], rel=1e-9)


def test_median_iqr_matches_numpy():
    values = [1.3, 0.9, 1.1, 1.0, 1.05, 1.2, 0.95]
    result = statistics.median_iqr(values)
    assert result["median"] == pytest.approx(np.median(values))
    assert result["iqr"] == pytest.approx(list(np.percentile(values, [25, 75])))
    assert statistics.median_iqr([None]) == {"median": None, "iqr": None, "n": 0}


# -- the classic table's claims -------------------------------------------------------------------
def _entry(dead, dead_diff=None, ratio=1.0, overhead=0, learned=False, moved=0.0):
    interval = statistics.mean_interval
    entry = {
        "dead_fraction": interval(dead),
        "dead_fraction_difference": dead_diff,
        "parameters": {"count": 1000 + overhead, "overhead": overhead,
                       "overhead_fraction": overhead / 1000},
        "step_time_ratio": {"median": ratio, "iqr": [ratio, ratio], "n": 5},
        "negative_slope": ({"kind": "learned", "mean": 0.2, "min": 0.1, "max": 0.3} if learned
                           else {"kind": "fixed", "value": 0.0}),
        "flexibility": {"spread": interval([0.0] * 5), "mean_shift": interval([moved] * 5),
                        "moved_share": interval([moved] * 5), "slopes": 10 if learned else 0},
    }
    return entry


def _summary(relu_dead, prelu_dead, prelu_ratio=1.05):
    diff = statistics.paired_difference(prelu_dead, relu_dead)
    return {"reference": "relu", "activations": {
        "relu": _entry(relu_dead),
        "prelu": _entry(prelu_dead, diff, ratio=prelu_ratio, overhead=10, learned=True, moved=0.3),
    }}


def _verdicts(summary):
    return {row: verdict for row, _, verdict, _ in claims.check_claims(summary)}


def test_claims_agree_when_relu_units_die_and_prelu_units_do_not():
    summary = _summary([0.30, 0.25, 0.35, 0.28, 0.31], [0.0, 0.01, 0.0, 0.0, 0.005])
    assert _verdicts(summary) == {"negative slope": "agrees", "dead neurons": "agrees",
                                  "parameters": "agrees", "speed": "agrees", "flexibility": "agrees"}


def test_claims_cannot_tell_when_the_interval_includes_zero():
    summary = _summary([0.05, 0.0, 0.0, 0.04, 0.0], [0.0, 0.01, 0.0, 0.0, 0.005])
    assert _verdicts(summary)["dead neurons"] == "cannot tell"


def test_claims_disagree_on_a_slow_prelu_and_many_dead_prelu_units():
    summary = _summary([0.30, 0.25, 0.35, 0.28, 0.31], [0.05, 0.06, 0.04, 0.05, 0.05],
                       prelu_ratio=1.8)
    verdicts = _verdicts(summary)
    assert verdicts["speed"] == "disagrees"
    assert verdicts["dead neurons"] == "disagrees"  # PReLU "very low" means <= 2%


def test_a_learned_slope_that_never_moved_disagrees_with_flexibility():
    summary = _summary([0.3] * 5, [0.0] * 5)
    summary["activations"]["prelu"] = _entry([0.0] * 5, None, overhead=10, learned=True, moved=0.0)
    verdicts = _verdicts(summary)
    assert verdicts["flexibility"] == "disagrees" and verdicts["negative slope"] == "disagrees"


def test_claims_disagree_when_relu_loses_no_units():
    summary = _summary([0.0] * 5, [0.0] * 5)
    assert _verdicts(summary)["dead neurons"] == "disagrees"
