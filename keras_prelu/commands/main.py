"""The `keras-prelu` command.

Every module in `keras_prelu.commands` that defines `register(subparsers)`
adds its sub-commands; a sub-command raises `UsageError` for a user error,
which prints one line and exits with code 2. This is the top of the package:
it may import anything, nothing imports it.
"""

import argparse
import contextlib
import importlib
import logging
import pkgutil
import sys

from keras_prelu import commands
from keras_prelu.commands.flags import UsageError
from keras_prelu.utils.files import OutOfSpace, is_out_of_space

__all__ = ["UsageError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser():
    parser = _Parser(prog="keras-prelu", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


@contextlib.contextmanager
def _package_messages_on_stderr():
    """Show the package's own log lines (the one-time kernel compilation) during a command."""
    log = logging.getLogger("keras_prelu")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        with _package_messages_on_stderr():
            return args.func(args) or 0
    except UsageError as error:
        print(f"keras-prelu: error: {error}", file=sys.stderr)
        return 2
    except OutOfSpace as error:
        print(f"keras-prelu: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        if not is_out_of_space(error):
            raise
        where = f" writing {error.filename}" if error.filename else ""
        print(f"keras-prelu: error: no space left on device{where}; nothing incomplete was kept",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
