"""Flag parsers shared by the commands: each rejects a bad value with one line naming the flag."""

import argparse
import contextlib
import math

from keras_prelu.training import experiment, runs, sources
from keras_prelu.utils.locks import DirectoryInUse


class UsageError(Exception):
    """A user error: printed as one line, exit code 2, no traceback."""


def usage_error(message):
    """The CLI's one-line user error (exit code 2)."""
    return UsageError(message)


@contextlib.contextmanager
def user_errors_as_usage(*extra_types):
    """Report the package's user-error exceptions (bad config, data, checkpoint, and
    `extra_types`) as the CLI's one-line usage error: their first line, exit code 2."""
    try:
        yield
    except (experiment.ConfigError, sources.DataError, runs.CheckpointError, runs.RunFileError,
            DirectoryInUse, *extra_types) as error:
        raise usage_error(str(error).splitlines()[0]) from None


def register_unavailable(subparsers, names, error):
    """Register sub-commands `names` that cannot run in this environment (`error`: the
    ImportError saying what is missing): running one prints that line, exit code 2."""
    reason = str(error).splitlines()[0]

    def refuse(args):
        raise usage_error(f"{args.command}: {reason}")

    for name in names:
        parser = subparsers.add_parser(name, help=f"(unavailable: {reason})", add_help=False)
        parser.add_argument("ignored", nargs=argparse.REMAINDER)
        parser.set_defaults(func=refuse)


def whole(flag, minimum=1):
    """Parser for a whole number >= `minimum`."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"{flag} takes a whole number >= {minimum}, not {text!r}")
        return value

    return parse


def number(flag, low=0.0, high=None, low_open=False, high_open=False):
    """Parser for a number between `low` and `high` (None: unbounded), ends open or closed."""
    if high is None:
        bounds = f"{'>' if low_open else '>='} {low:g}"
    else:
        bounds = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a number, not {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if math.isnan(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"{flag} takes a number {bounds}, not {text!r}")
        return value

    return parse


def auto_or(parse, flag, alternative):
    """Parser accepting 'auto' or what `parse` accepts (described as `alternative`)."""

    def parse_auto(text):
        if text == "auto":
            return text
        try:
            return parse(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"{flag} takes 'auto' or {alternative}, not {text!r}") from None

    return parse_auto
