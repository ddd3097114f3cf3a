"""The classic comparison table's claims, checked against a study's measured summary.

The folklore table (negative slope, dead neurons, parameters, speed,
flexibility) says, for ReLU / LeakyReLU / PReLU / RReLU, what `CLAIMS` holds.
`check_claims(summary)` gives one verdict per row: "agrees", "disagrees",
"cannot tell" (an interval includes 0, or too few seeds), or "not measured",
each with the measured figures that decided it. The thresholds below are the
operational meaning of the table's words.
"""

from keras_prelu.study.statistics import difference_words

#: "very fast": a median training-step ratio to ReLU at most this; "fast": at most `FAST`.
VERY_FAST, FAST = 1.10, 1.50
#: "very low" dead share: at most this (2%).
VERY_LOW_DEAD = 0.02

CLAIMS = {
    "negative slope": {"relu": "0", "leaky_relu": "fixed, small", "prelu": "learned",
                       "prelu_shared": "learned", "rrelu": "random in training"},
    "dead neurons": {"relu": "high", "leaky_relu": "low", "prelu": "very low",
                     "prelu_shared": "very low", "rrelu": "low"},
    "parameters": {"relu": "none", "leaky_relu": "none", "prelu": "one per channel",
                   "prelu_shared": "one per layer", "rrelu": "none"},
    "speed": {"relu": "very fast", "leaky_relu": "very fast", "prelu": "fast",
              "prelu_shared": "fast", "rrelu": "fast"},
    "flexibility": {"relu": "none", "leaky_relu": "none", "prelu": "high",
                    "prelu_shared": "some", "rrelu": "none"},
}


def _pct(value):
    return "–" if value is None else f"{100 * value:.1f}%"


def claim_text(row, activations):
    """The claims of one row for the study's activations: "ReLU high, PReLU very low"."""
    return ", ".join(f"{a} {CLAIMS[row][a]}" for a in activations if a in CLAIMS[row])


def _negative_slope(entries):
    found, wrong = [], []
    for activation, entry in entries.items():
        slope = entry["negative_slope"]
        if slope["kind"] == "learned":
            flex = entry.get("flexibility")
            shift = None if flex is None else flex["mean_shift"]
            moved = shift is not None and shift["mean"] is not None and shift["mean"] > 0
            if moved:
                found.append(f"{activation} learned, {shift['mean']:.3f} from the initial value on average")
            else:
                found.append(f"{activation} did not move")
                wrong.append(activation)
        elif slope["kind"] == "random":
            low, high = slope["training_range"]
            found.append(f"{activation} U({low:.3f}, {high:.3f}) in training, {slope['value']:.3f} at inference")
        else:
            found.append(f"{activation} fixed {slope['value']:g}")
    return ("disagrees" if wrong else "agrees"), "; ".join(found)


def _dead_neurons(entries, reference):
    ref = entries.get(reference)
    if ref is None or reference != "relu":
        return "not measured", "needs ReLU in the study"
    verdicts = []
    relu_dead = ref["dead_fraction"]
    upper = (relu_dead.get("ci95") or [None, relu_dead["mean"]])[1]
    if upper is not None and upper <= VERY_LOW_DEAD:
        verdicts.append("disagrees")  # ReLU lost (almost) no units here: not "high"
    differences = []
    for activation, entry in entries.items():
        if activation == reference:
            continue
        verdicts.append(_fewer_dead_than_reference(entry.get("dead_fraction_difference")))
        if CLAIMS["dead neurons"].get(activation) == "very low":
            if (entry["dead_fraction"]["mean"] or 0.0) > VERY_LOW_DEAD:
                verdicts.append("disagrees")
        difference = entry.get("dead_fraction_difference")
        if difference and difference["mean"] is not None:
            differences.append(f"{activation} {_points(difference)} ({difference_words(difference)})")
    figures = ", ".join(f"{a} {_pct(e['dead_fraction']['mean'])}" for a, e in entries.items())
    detail = (f"dead units {figures}; paired difference to {reference}: {'; '.join(differences)}; "
              f"\"high\" is contradicted when {reference}'s interval lies at or below "
              f"{100 * VERY_LOW_DEAD:g}%, \"very low\" means at most {100 * VERY_LOW_DEAD:g}%")
    return _combine(verdicts), detail


def _fewer_dead_than_reference(difference):
    """"agrees" when the paired difference to ReLU is measurably negative, "disagrees" when
    measurably positive, else "cannot tell"."""
    if difference is None or difference["includes_zero"] is None or difference["includes_zero"]:
        return "cannot tell"
    return "agrees" if difference["mean"] < 0 else "disagrees"


def _points(difference):
    """A paired difference of shares in percentage points, with its interval."""
    text = f"{100 * difference['mean']:+.2f} pp"
    if difference["ci95"]:
        low, high = difference["ci95"]
        text += f" [{100 * low:+.2f}, {100 * high:+.2f}]"
    return text


def _parameters(entries):
    wrong, found = [], []
    for activation, entry in entries.items():
        overhead = entry["parameters"]["overhead"]
        found.append(f"{activation} +{overhead:,}")
        claim = CLAIMS["parameters"].get(activation)
        if claim == "none" and overhead != 0:
            wrong.append(activation)
        if claim in ("one per channel", "one per layer") and overhead <= 0:
            wrong.append(activation)
    return ("disagrees" if wrong else "agrees"), ", ".join(found) + " over ReLU"


def _speed(entries):
    verdicts, found = [], []
    for activation, entry in entries.items():
        ratio = entry.get("step_time_ratio")
        if not ratio or ratio["median"] is None:
            return "not measured", "step times not measured"
        median = ratio["median"]
        found.append(f"{activation} {median:.2f}x")
        claim = CLAIMS["speed"].get(activation)
        limit = VERY_FAST if claim == "very fast" else FAST
        verdicts.append("agrees" if median <= limit else "disagrees")
    detail = (f"training step vs ReLU (median of same-round ratios): {', '.join(found)}; "
              f"very fast <= {VERY_FAST:.2f}x, fast <= {FAST:.2f}x")
    return _combine(verdicts), detail


def _flexibility(entries):
    verdicts, found = [], []
    for activation, entry in entries.items():
        flex = entry.get("flexibility")
        if flex is None:
            return "not measured", "initial slopes not recorded"
        moved, shift = flex["moved_share"]["mean"], flex["mean_shift"]
        found.append(f"{activation} mean shift {shift['mean']:.3f}, moved {_pct(moved)}")
        claim = CLAIMS["flexibility"].get(activation)
        if claim == "none":
            verdicts.append("agrees" if shift["mean"] == 0 else "disagrees")
        elif claim in ("high", "some"):
            verdicts.append(_adapted(shift))
    detail = ("mean distance of the final slopes from their initial value, and the share that moved "
              "more than 0.05: " + "; ".join(found) + "; a learned slope adapted when the interval "
              "of its mean shift excludes 0")
    return _combine(verdicts), detail


def _adapted(shift):
    """"agrees" when the slopes measurably moved (interval above 0), "disagrees" when they did not
    move at all, else "cannot tell"."""
    if shift["mean"] is None or shift["mean"] <= 0:
        return "disagrees"
    if not shift.get("ci95"):
        return "cannot tell"
    return "agrees" if shift["ci95"][0] > 0 else "cannot tell"


def _combine(verdicts):
    if "disagrees" in verdicts:
        return "disagrees"
    if "cannot tell" in verdicts or not verdicts:
        return "cannot tell"
    return "agrees"


def check_claims(summary):
    """[(row, claim text, verdict, measured figures)] for the table's rows."""
    entries = summary["activations"]
    activations = list(entries)
    reference = summary["reference"]
    checks = {
        "negative slope": lambda: _negative_slope(entries),
        "dead neurons": lambda: _dead_neurons(entries, reference),
        "parameters": lambda: _parameters(entries),
        "speed": lambda: _speed(entries),
        "flexibility": lambda: _flexibility(entries),
    }
    lines = []
    for row, check in checks.items():
        verdict, detail = check()
        lines.append((row, claim_text(row, activations), verdict, detail))
    return lines


def accuracy_words(entry):
    """The paired accuracy difference to the reference in words, in percentage points."""
    difference = entry.get("test_accuracy_difference")
    if difference is None:
        return "reference"
    words = difference_words(difference)
    if difference["mean"] is None:
        return words
    return f"{_points(difference)}: {words}"
