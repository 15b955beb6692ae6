"""The ``zaloni`` console command: look into a lake and decode mainframe files.

``zaloni lake ls ROOT``, ``zaloni lake show ROOT DATASET``, ``zaloni lake verify ROOT`` (each with ``--conn-id`` for
a lake on S3 or another store that needs credentials); the ``mainframe``
subcommands come from :mod:`airflow_zaloni.mainframe.cli` when it is available.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence

from airflow_zaloni import config
from airflow_zaloni.lake import DatasetRef, Lake, LakeError
from airflow_zaloni.lake.catalog import catalog
from airflow_zaloni.utils.formatting import human_size, utc_time


def _lake(args: argparse.Namespace) -> Lake:
    """The lake named on the command line, through ``--conn-id`` (or ``[zaloni] lake_conn_id`` for remote roots).

    Airflow logs to stdout while it resolves the connection: that goes to stderr, so ``--json`` output stays JSON.
    """
    with contextlib.redirect_stdout(sys.stderr):
        return config.open_lake(args.root, args.conn_id)


def lake_ls(args: argparse.Namespace) -> int:
    datasets = catalog(_lake(args))
    if args.json:
        print(json.dumps([d.as_dict() for d in datasets], indent=2, default=str))
        return 0
    if not datasets:
        print(f"no datasets in {args.root}")
        return 0
    header = ("ZONE", "DATASET", "PARTS", "ROWS", "SIZE", "LAST COMMIT", "WATERMARK")
    rows = [
        (
            d.zone,
            f"{d.system}/{d.name}",
            str(len(d.partitions)),
            "-" if d.rows is None else f"{d.rows:,}",
            human_size(d.bytes),
            utc_time(d.last_commit),
            "" if d.watermark is None else str(d.watermark),
        )
        for d in datasets
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    return 0


def lake_show(args: argparse.Namespace) -> int:
    lake = _lake(args)
    lake.recover()
    ref = DatasetRef.parse(args.dataset)
    partitions = lake.partitions(ref)
    if not partitions:
        print(f"{ref} has no committed partitions in {args.root}", file=sys.stderr)
        return 1
    partition = args.partition or partitions[-1]
    manifest = lake.manifest(ref, partition)
    if manifest is None:
        print(f"{ref} has no committed partition {partition!r}; it has {', '.join(partitions)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(manifest, indent=2, default=str))
        return 0
    print(f"dataset     {manifest['dataset']}")
    print(f"partition   {partition}   (of {len(partitions)}: {', '.join(partitions)})")
    print(
        f"committed   {utc_time(manifest['timings'].get('written'))} by {manifest['producer']} "
        f"run {manifest['run_id']} try {manifest['try_number']} (transaction {manifest['txn_id']})"
    )
    print(f"source      {json.dumps(manifest['source'], default=str)}")
    print(
        f"totals      {manifest['totals']['rows']} rows, {human_size(manifest['totals']['bytes'])}, "
        f"{manifest['totals']['files']} file(s)"
    )
    print(f"watermark   {manifest['watermark']['before']} -> {manifest['watermark']['after']}")
    if manifest.get("schema"):
        print("schema")
        for field in manifest["schema"]["fields"]:
            print(f"  {field['name']:<32} {field['type']}{'' if field['nullable'] else ' not null'}")
    print("files")
    for f in manifest["files"]:
        rows = "" if f["rows"] is None else f"{f['rows']:>10,} rows  "
        print(f"  {f['path']:<32} {rows}{human_size(f['bytes']):>10}  sha256 {f['sha256'][:16]}...")
    if manifest.get("extra"):
        print(f"extra       {json.dumps(manifest['extra'], default=str)}")
    return 0


def lake_verify(args: argparse.Namespace) -> int:
    lake = _lake(args)
    lake.recover()
    refs = [DatasetRef.parse(d) for d in args.dataset] if args.dataset else None
    problems = lake.verify(refs)
    checked = sum(len(lake.partitions(r)) for r in (refs or lake.datasets()))
    for problem in problems:
        print(f"MISMATCH {problem}")
    print(f"{checked} partition(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


CONN_HELP = (
    "Airflow connection of the lake's store (an aws connection for s3:// roots); default [zaloni] lake_conn_id "
    "for roots that are not local paths"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zaloni", description="Inspect a Zaloni lake and decode mainframe data.")
    commands = parser.add_subparsers(dest="command", required=True)

    lake = commands.add_parser("lake", help="list, show and verify the datasets of a lake")
    lake_commands = lake.add_subparsers(dest="lake_command", required=True)
    ls = lake_commands.add_parser("ls", help="datasets by zone with partitions, rows, bytes, last commit")
    ls.add_argument("root", help="lake root: a path or URI")
    ls.add_argument("--conn-id", help=CONN_HELP)
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=lake_ls)
    show = lake_commands.add_parser("show", help="manifest and schema of a dataset's partition")
    show.add_argument("root", help="lake root: a path or URI")
    show.add_argument("--conn-id", help=CONN_HELP)
    show.add_argument("dataset", help="zone/system/name")
    show.add_argument("--partition", help="partition to show (default: the latest)")
    show.add_argument("--json", action="store_true", help="print the manifest as JSON")
    show.set_defaults(func=lake_show)
    verify = lake_commands.add_parser("verify", help="re-read every file and check it against its manifest")
    verify.add_argument("root", help="lake root: a path or URI")
    verify.add_argument("--conn-id", help=CONN_HELP)
    verify.add_argument("dataset", nargs="*", help="only these datasets (zone/system/name)")
    verify.set_defaults(func=lake_verify)

    try:
        from airflow_zaloni.mainframe.cli import register
    except ImportError:
        pass
    else:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LakeError as exc:
        print(f"zaloni: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
