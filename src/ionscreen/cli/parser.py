"""The ``ionscreen`` argument parser: one function per subcommand that adds its arguments, with
every default from the dataclass the subcommand fills."""

from __future__ import annotations

import argparse

from ionscreen.cli.arguments import COMMANDS


def _positive(kind: type) -> object:
    """An argparse type: a number of ``kind`` above 0 (temperatures in K, steps, time steps)."""

    def parse(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} must be > 0")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line (what is wrong, where to look), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; every default comes from the dataclass the subcommand fills (one source of
    defaults: tests/test_defaults.py checks it), and ``--help`` shows it with its unit. Where a
    default differs from the demo ``config.yaml``, the help says so. With ``only``, every
    subcommand is listed but only that one gets its arguments, so only its stage's modules are
    imported (``main`` passes the subcommand on the command line: ``ionscreen predict --help``
    does not import the MD engine)."""
    from ionscreen import __version__

    fmt = argparse.ArgumentDefaultsHelpFormatter
    common = Parser(add_help=False)  # -v works after the subcommand too
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="debug logging, and a traceback on error",
    )
    pos_float, pos_int = _positive(float), _positive(int)

    p = Parser(prog="ionscreen", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, and a traceback on error")
    p.add_argument("--version", action="version", version=f"ionscreen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, **kw: object) -> argparse.ArgumentParser | None:
        parser = sub.add_parser(name, parents=[common], formatter_class=kw.pop("formatter_class", fmt), **kw)
        return parser if only is None or name == only else None

    for add in COMMANDS:
        add(command, pos_float, pos_int)
    return p
