"""The `keras-prelu` command line (`main.main`): each sub-command module defines `register(subparsers)`.

`register` adds a parser with `set_defaults(func=...)`; the function takes the
parsed arguments, returns an exit code (or None for 0) and raises
`keras_prelu.commands.flags.UsageError` for user errors.
"""
