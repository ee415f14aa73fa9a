"""The ``lifeline-twin`` command: one sub-command group per module in ``app.commands``.

Each module there defines ``register(subparsers)`` which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.
Errors the user can fix (bad files, unknown ids) are one line on stderr and exit
status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import errno
import os
import pkgutil
import sys

from app.options import BoundedOptions
from twin.errors import TwinError


class _OneLineErrors(BoundedOptions, argparse.ArgumentParser):
    """Usage mistakes are one line on stderr, like every other error ("--help" shows the usage).

    Numeric options are finite and within the plausible ranges of :mod:`app.options`.
    """

    def error(self, message):  # noqa: D401 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lifeline-twin")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    import app.commands

    parser = _OneLineErrors(
        prog="lifeline-twin",
        description="Digital twin of a city's lifelines: build it, inspect it, simulate it.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"lifeline-twin {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_OneLineErrors)
    for info in sorted(pkgutil.iter_modules(app.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"app.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a usage error (one line already on stderr) or --help
        return stop.code if isinstance(stop.code, int) else 2
    try:
        from app import outputs

        outputs.check(args)  # before any work: nothing not ours is written over
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("lifeline-twin: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and friends: stop quietly, as Unix tools do.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except (IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError) as exc:
        if args.debug:
            raise
        from twin.errors import reading_problem

        print(f"lifeline-twin {args.command}: error: {exc.filename}: {reading_problem(exc)}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        if args.debug:
            raise
        from twin.errors import reading_problem

        print(f"lifeline-twin {args.command}: error: an input file is {reading_problem(exc)} (run with --debug "
              "to see which)", file=sys.stderr)
        return 2
    except (TwinError, FileNotFoundError, KeyError, ValueError) as exc:
        if args.debug:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"lifeline-twin {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line unless --debug
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            # an output folder on a read-only or full disk (made by a command before any file is written)
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"lifeline-twin {args.command}: error: {where}cannot write there ({exc.strerror})",
                  file=sys.stderr)
            return 2
        print(f"lifeline-twin {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
