"""The ``zaloni`` console command: look into a lake and decode mainframe files.

``zaloni lake ls ROOT``, ``zaloni lake show ROOT DATASET [--snapshot ID]``, ``zaloni lake snapshots ROOT DATASET``,
``zaloni lake verify ROOT [--snapshot ID]``, ``zaloni lake migrate ROOT`` (each with ``--conn-id`` for a lake on S3 or
another store that needs credentials); the ``mainframe``
subcommands come from :mod:`airflow_zaloni.mainframe.cli` when it is available.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from airflow_zaloni import config
from airflow_zaloni.lake import DatasetRef, Lake, LakeError
from airflow_zaloni.lake.catalog import catalog
from airflow_zaloni.plugins import lake_format
from airflow_zaloni.utils.formatting import human_size, utc_time


def _lake(args: argparse.Namespace) -> Lake:
    """The lake named on the command line, through ``--conn-id`` (or ``[zaloni] lake_conn_id`` for remote roots).

    Airflow logs to stdout while it resolves the connection: that goes to stderr, so ``--json`` output stays JSON.
    """
    with contextlib.redirect_stdout(sys.stderr):
        lake = config.open_lake(args.root, args.conn_id)
        lake.table_catalog()  # opening the catalog may log (an embedded catalog for a remote root) as well
        return lake


def lake_ls(args: argparse.Namespace) -> int:
    datasets = catalog(_lake(args))
    if args.json:
        print(json.dumps([d.as_dict() for d in datasets], indent=2, default=str))
        return 0
    if not datasets:
        print(f"no datasets in {args.root}")
        return 0
    header = ("ZONE", "DATASET", "PARTS", "ROWS", "SIZE", "LAST COMMIT", "WATERMARK", "TABLE")
    rows = [
        (
            d.zone,
            f"{d.system}/{d.name}",
            str(len(d.partitions)),
            "-" if d.rows is None else f"{d.rows:,}",
            human_size(d.bytes),
            utc_time(d.last_commit),
            "" if d.watermark is None else lake_format.watermark(d)["text"],  # times as the Lake view shows them
            _table_cell(d.table, d.files_only),
        )
        for d in datasets
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    return 0


def _table_cell(table: dict[str, Any] | None, files_only: str | None) -> str:
    if table is not None:
        return f"{table['table']} @ {table['snapshot_id']}"
    return f"files ({files_only})" if files_only else "files"


def lake_show(args: argparse.Namespace) -> int:
    lake = _lake(args)
    lake.recover()
    ref = DatasetRef.parse(args.dataset)
    partitions = lake.partitions(ref, snapshot_id=args.snapshot)
    if not partitions:
        print(f"{ref} has no committed partitions in {args.root}", file=sys.stderr)
        return 1
    if args.snapshot is not None:
        return _show_snapshot(lake, ref, args.snapshot, partitions, args.json)
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


def _show_snapshot(lake: Lake, ref: DatasetRef, snapshot_id: int, partitions: list[str], as_json: bool) -> int:
    """What a past snapshot of a table held (time travel): its summary, partitions and files."""
    from airflow_zaloni.lake.tables import snapshot_info

    info = snapshot_info(lake.table(ref), snapshot_id) or {}
    files = {p: lake.data_files(ref, p, snapshot_id=snapshot_id) for p in partitions}
    if as_json:
        print(json.dumps({**info, "partitions": files}, indent=2, default=str))
        return 0
    print(f"table       {info.get('table')}")
    print(f"snapshot    {snapshot_id} ({info.get('operation')}, {utc_time((info.get('timestamp_ms') or 0) / 1000)})")
    for key, value in sorted((info.get("summary") or {}).items()):
        if key != "zaloni.files-sha256":
            print(f"  {key:<28} {value}")
    for partition, paths in files.items():
        print(f"{partition}")
        for path in paths:
            print(f"  {path.rsplit('/', 1)[-1]}")
    return 0


def lake_snapshots(args: argparse.Namespace) -> int:
    """The snapshots of a dataset's table, oldest first (ids for ``--snapshot``)."""
    lake = _lake(args)
    ref = DatasetRef.parse(args.dataset)
    table = lake.table(ref)
    if table is None:
        print(f"{ref} is not an Iceberg table in {args.root}", file=sys.stderr)
        return 1
    from airflow_zaloni.lake.tables import snapshot_info

    infos = [snapshot_info(table, s.snapshot_id) for s in table.snapshots()]
    if args.json:
        print(json.dumps(infos, indent=2, default=str))
        return 0
    for info in infos:
        assert info is not None
        summary = info["summary"]
        print(
            f"{info['snapshot_id']:<20} {utc_time(info['timestamp_ms'] / 1000)}  {info['operation']:<9} "
            f"txn {summary.get('zaloni.txn-id', '-')}  run {summary.get('zaloni.run-id', '-')}  "
            f"partitions {summary.get('zaloni.partitions', '-')}"
        )
    return 0


def lake_migrate(args: argparse.Namespace) -> int:
    """Register the raw/trusted/refined datasets of a lake of the layout before tables as Iceberg tables."""
    from airflow_zaloni.lake.tables import TABLE_ZONES, register_existing

    lake = _lake(args)
    lake.recover()
    refs = [DatasetRef.parse(d) for d in args.dataset] if args.dataset else lake.datasets()
    for ref in refs:
        if ref.zone not in TABLE_ZONES:
            continue
        print(f"{ref}: {register_existing(lake, ref)}")
    return 0


def lake_verify(args: argparse.Namespace) -> int:
    lake = _lake(args)
    lake.recover()
    refs = [DatasetRef.parse(d) for d in args.dataset] if args.dataset else None
    if args.snapshot is not None and (refs is None or len(refs) != 1):
        print("--snapshot needs exactly one dataset", file=sys.stderr)
        return 2
    problems = lake.verify(refs, snapshot_id=args.snapshot)
    checked = sum(len(lake.partitions(r, snapshot_id=args.snapshot)) for r in (refs or lake.datasets()))
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

    def lake_command(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        """A ``zaloni lake`` subcommand: every one reads a lake given by its root and the connection of its store."""
        command = lake_commands.add_parser(name, help=help)
        command.add_argument("root", help="lake root: a path or URI")
        command.add_argument("--conn-id", help=CONN_HELP)
        command.set_defaults(func=func)
        return command

    ls = lake_command("ls", lake_ls, "datasets by zone with partitions, rows, bytes, last commit")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    show = lake_command("show", lake_show, "manifest and schema of a dataset's partition")
    show.add_argument("dataset", help="zone/system/name")
    show.add_argument("--partition", help="partition to show (default: the latest)")
    show.add_argument("--json", action="store_true", help="print the manifest as JSON")
    show.add_argument("--snapshot", type=int, help="an earlier snapshot of the dataset's table (time travel)")
    snapshots = lake_command("snapshots", lake_snapshots, "the snapshots of a dataset's Iceberg table")
    snapshots.add_argument("dataset", help="zone/system/name")
    snapshots.add_argument("--json", action="store_true", help="machine-readable output")
    migrate = lake_command(
        "migrate", lake_migrate, "register the datasets of a lake of the layout before tables as Iceberg tables"
    )
    migrate.add_argument("dataset", nargs="*", help="only these datasets (zone/system/name)")
    verify = lake_command("verify", lake_verify, "re-read every file and check it against its manifest")
    verify.add_argument("dataset", nargs="*", help="only these datasets (zone/system/name)")
    verify.add_argument("--snapshot", type=int, help="check the files of this snapshot of the (one) dataset's table")

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
