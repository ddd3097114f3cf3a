"""Browse the model zoo: `keras-prelu list [PATTERN]`, `keras-prelu info NAME`.

The same two commands are also `keras-prelu models list|info`.
"""

import sys

import zoo
from keras_prelu.commands.flags import UsageError


def _list(args):
    names = zoo.list_models(args.pattern)
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    print("\n".join(names))
    return 0


def _format(key, value):
    if key == "published" and value:
        return f"{value['value']} ({value['metric']}, {value['source']}; {value['activation']})"
    if key in ("params", "total_params"):
        return f"{value:,}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    return "-" if value is None else str(value)


def _info(args):
    try:
        zoo.registry.entry(args.name)
    except ValueError as error:
        raise UsageError(str(error).splitlines()[0]) from None
    for key, value in zoo.info(args.name).items():
        print(f"{key}: {_format(key, value)}")
    return 0


def _add_list_and_info(subparsers):
    listing = subparsers.add_parser("list", help="registered model names matching PATTERN")
    listing.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, default '*'")
    listing.set_defaults(func=_list)
    details = subparsers.add_parser("info", help="family, depth, parameters, paper of model NAME")
    details.add_argument("name")
    details.set_defaults(func=_info)


def register(subparsers):
    _add_list_and_info(subparsers)
    parser = subparsers.add_parser("models", help="the same list and info, grouped")
    _add_list_and_info(parser.add_subparsers(dest="models_command", required=True))
