"""Sub-commands of `keras-prelu`: each module defines `register(subparsers)`.

`register` adds a parser with `set_defaults(func=...)`; the function takes the
parsed arguments, returns an exit code (or None for 0) and raises
`keras_prelu.cli.UsageError` for user errors.
"""
