"""The ``rsketch solve`` and ``rsketch eigs`` sub-commands (argument parsing, tables, files).

Each module has ``add_arguments(parser)`` and ``run(args) -> int``; the ``rsketch`` command
finds them by name (see :mod:`rsketch.cli`). ``common`` holds what both share: the system
and sketch options, loading the system, residual histories and plots.
"""
