"""The ``trmarl`` command.

Subcommands (each has ``--help``):

* ``trmarl list envs [--family F]``: registered environment ids.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _cmd_list(args: argparse.Namespace) -> int:
    import trmarl

    if args.what == "envs":
        for env_id in trmarl.list_envs(args.family):
            print(env_id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``trmarl`` command."""
    parser = argparse.ArgumentParser(prog="trmarl", description="Multi-agent RL with trmarl.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list registered environments")
    p_list.add_argument("what", choices=["envs"])
    p_list.add_argument("--family", choices=["mamujoco", "smacsim", "smac", "toy", "user"], default=None)
    p_list.set_defaults(func=_cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trmarl`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (KeyError, ValueError, FileNotFoundError) as exc:
        print(f"trmarl: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
