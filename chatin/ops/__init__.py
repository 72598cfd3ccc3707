"""Operator commands beside the server: `python -m chatin backup|restore|doctor`.

Each reads the same settings as the app (CHATIN_DATA_DIR, DATABASE_URL, CHATIN_SECRET_KEY)
and prints what it did; a failure is one line on stderr saying what to do, and exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chatin import db
from chatin.config import ConfigError, Settings
from chatin.ops import backup, doctor, restore
from chatin.ops.postgres import OpsError, Progress

COMMANDS = ("backup", "restore", "doctor")
INTERRUPTED_EXIT = 130  # as a shell reports a process ended by Ctrl-C
UNDONE = {
    "backup": "no backup file was written",
    "restore": "the previous data is as it was",
    "doctor": "checks left unfinished",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chatin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    saving = commands.add_parser("backup", help="write the database and secret key to one file")
    saving.add_argument("path", type=Path, help="the backup file to write (replaced if present)")
    putting_back = commands.add_parser("restore", help="put a backup file back")
    putting_back.add_argument("path", type=Path, help="a file `backup` wrote")
    putting_back.add_argument(
        "--force", action="store_true", help="replace existing data (kept aside until done)"
    )
    commands.add_parser("doctor", help="check the database, migrations, key, disk and workers")
    return parser


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "doctor":
        return 0 if doctor.run(settings, lambda line: print(line, flush=True)) else 1
    if args.command == "backup":
        print(backup.run(settings, args.path, Progress()).report(), flush=True)
    else:
        print(restore.run(settings, args.path, args.force, Progress()).report(), flush=True)
    return 0


def main(argv: list[str]) -> int:
    logging.getLogger().setLevel(logging.WARNING)  # the summary says what happened
    args = _parser().parse_args(argv)
    try:
        return _run(args, Settings.from_env())
    except (OpsError, ConfigError, db.DatabaseUnavailable, OSError) as error:
        print(f"chatin {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"chatin {args.command}: interrupted; {UNDONE[args.command]}", file=sys.stderr)
        return INTERRUPTED_EXIT
