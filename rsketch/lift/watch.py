"""Watch mode of ``rsketch lift``: masks for each new checkpoint a training job writes."""

from __future__ import annotations

__all__ = ["add_watch_arguments", "run_watch"]


def add_watch_arguments(parser):
    parser.add_argument("--watch", metavar="DIR",
                        help="compute the masks of every new checkpoint written under DIR")


def run_watch(args, comm):
    raise NotImplementedError("rsketch lift --watch")
