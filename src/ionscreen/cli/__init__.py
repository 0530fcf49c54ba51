"""The ``ionscreen`` command line (docs/usage.md, "The command line"). Each subcommand calls the
same package function as the workflow rule. Exit status 0 on success; otherwise one line saying
why.

- ``parser``: the argument parser (``build_parser``), one function per subcommand;
- ``commands``: what each subcommand does (``cmd_*``), and the output checks made before any work.
"""

from __future__ import annotations

import logging
import sys

from ionscreen.cli.arguments import COMMAND_NAMES
from ionscreen.cli.commands import FOLDER_OUT, OUTPUT_FILES, CLIError, check_output
from ionscreen.cli.parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Exit status 0 on success; 1 when the work ran but produced nothing
    usable or a run failed; 2 with one line on stderr (what is wrong and what to do) for a mistake
    in what was asked, checked before any work where it can be (outputs, ids, temperatures)."""
    from ionscreen import logs

    given = sys.argv[1:] if argv is None else argv
    asked = next((a for a in given if not a.startswith("-")), None)
    args = build_parser(only=asked if asked in COMMAND_NAMES else "").parse_args(argv)
    logs.setup(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        for name in OUTPUT_FILES:
            if name == "out" and args.command == "md":
                continue  # a file or a folder, by how many runs were asked for: cmd_md checks it
            if getattr(args, name, None):
                check_output(getattr(args, name), folder=name == "out" and args.command in FOLDER_OUT)
        return int(args.func(args) or 0)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print(f"ionscreen {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error is one line; -v shows the traceback
        if args.verbose:
            raise
        text = " ".join(str(exc).split()) or "no message"
        kind = "" if isinstance(exc, CLIError) else f"{type(exc).__name__}: "
        print(f"ionscreen {args.command}: {kind}{text}", file=sys.stderr)
        return 2
