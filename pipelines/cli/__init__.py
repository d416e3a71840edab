"""`pachmedia`: pachctl's verbs and syntax on the embedded engine.

Each module in this package declares `COMMANDS` (see base.Command); main() builds
`verb [noun]` parsers from them and maps the one error tree to exit statuses.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from pipelines.errors import PachmediaError
from pipelines.cli.base import Command

MODULES = ("files", "repos", "pipelines", "jobs", "datums", "lineage", "explain", "debug", "admin", "demo", "s3", "deploy", "serve")


def commands() -> list[Command]:
    found: list[Command] = []
    for name in MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(__name__):
                continue  # a verb module not present in this build
            raise
        found.extend(mod.COMMANDS)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pachmedia", description=(
        "Media ingestion as Pachyderm pipelines, on an embedded engine. "
        "State lives in $PACHMEDIA_HOME (default ~/.pachmedia)."))
    parser.add_argument("--home", help="engine state folder (default: $PACHMEDIA_HOME or ~/.pachmedia)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    nouns: dict[str, argparse._SubParsersAction] = {}
    cmds = commands()
    noun_names: dict[str, list[str]] = {}
    for cmd in cmds:
        if cmd.noun:
            noun_names.setdefault(cmd.verb, []).append(cmd.noun)
    for cmd in cmds:
        if cmd.noun is None:
            p = verbs.add_parser(cmd.verb, help=cmd.help, description=cmd.help)
        else:
            if cmd.verb not in nouns:
                vp = verbs.add_parser(cmd.verb, help=f"{cmd.verb} {' | '.join(noun_names[cmd.verb])}")
                nouns[cmd.verb] = vp.add_subparsers(dest="noun", metavar="NOUN")
                nouns[cmd.verb].required = True
            p = nouns[cmd.verb].add_parser(cmd.noun, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(func=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PachmediaError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
