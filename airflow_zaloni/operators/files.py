"""``FileToLakeOperator``: files from local disk, SFTP, FTP/FTPS, HDFS or an object store into the lake, once each."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from airflow_zaloni.lake import DatasetRef
from airflow_zaloni.operators.base import LakeIngestOperator
from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.files import FixedField, FormatOptions, complete
from airflow_zaloni.sources.files.client import FileSystem, RemoteFile, connect
from airflow_zaloni.sources.files.formats import arrow_type
from airflow_zaloni.sources.files.ingest import IngestResult, validate_strategy
from airflow_zaloni.sources.files.watch import FileWatch, seconds

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_zaloni.lake import Transaction


def schema_from(value: pa.Schema | dict[str, str] | None) -> pa.Schema | None:
    """A schema given as Arrow, or as ``{"column": "type name"}`` (JSON-friendly, so it can come from a template)."""
    if value is None or isinstance(value, pa.Schema):
        return value
    return pa.schema([pa.field(name, arrow_type(type_)) for name, type_ in value.items()])


def archive_path(archive: str | None, folder: str) -> str | None:
    """``archive_folder`` on the source's server: a relative one is taken inside the source ``folder``."""
    if not archive:
        return archive
    return posixpath.normpath(archive if posixpath.isabs(archive) else posixpath.join(folder, archive))


class FileToLakeOperator(LakeIngestOperator):
    """Land the files of a folder into the lake, each file exactly once.

    Lists ``source`` (a local folder, ``sftp://``, ``ftp://``, ``ftps://``, ``webhdfs://`` or any
    ``ObjectStoragePath``/fsspec URL), keeps the files that match and that the lake has not ingested yet (a file
    with the same name and new content is a new version), and in one transaction writes their bytes to
    ``landing/<system>/<dataset>``, their decoded rows to ``<zone>/<system>/<dataset>`` and a ledger of the files to
    ``landing/<system>/<dataset>.files``, all in the partition of the run. Then applies ``completion`` to the files
    that are safely in the lake.

    :param source: folder to ingest, e.g. ``/data/drop``, ``sftp:///outgoing``, ``s3://bucket/drop``. (templated)
    :param conn_id: Airflow connection of the server (SFTP, FTP, WebHDFS, object store); may also be given as the
        user part of ``source`` (``sftp://my_sftp@/outgoing``). (templated)
    :param pattern: glob on the path relative to ``source``, e.g. ``*.csv.gz``. (templated)
    :param regex: full-match regular expression on the relative path instead of ``pattern``. (templated)
    :param recursive: descend into sub-folders.
    :param min_age: skip files modified less than this ago (seconds or timedelta): they may still be written.
    :param min_size: skip files smaller than this many bytes.
    :param max_size: skip files larger than this many bytes.
    :param max_files: at most this many files per run, oldest first; the others wait for the next run.
    :param exclude: globs of relative paths never ingested (trigger files such as ``_SUCCESS`` and names starting
        with ``.`` or ``_`` are always left out).
    :param format: ``csv``, ``jsonl``, ``fixed``, ``parquet``, ``avro``, ``orc``, ``auto`` (by extension) or
        ``binary`` (bytes only, into the landing zone). (templated)
    :param compression: ``infer`` (by extension), ``None``, ``gzip``, ``bz2``, ``xz`` or ``zip``.
    :param delimiter: CSV delimiter. (templated)
    :param header: whether CSV files start with a header line.
    :param column_names: column names of CSV files without a header.
    :param quote_char: CSV quote character, ``None`` for none.
    :param escape_char: CSV escape character.
    :param encoding: text encoding of CSV, JSON Lines and fixed-width files. (templated)
    :param null_values: CSV strings that mean null.
    :param fixed_fields: fixed-width field spec: ``[{"name": "id", "width": 6, "type": "int64"}, ...]``.
    :param schema: Arrow schema or ``{"column": "type"}``; inferred per file when not given.
    :param schema_drift: ``fail``, ``union`` or ``string``: what to do when files' columns differ.
    :param bad_rows: ``fail`` (error naming the line) or ``quarantine`` (rows go to ``<dataset>.rejected``).
    :param file_column: add a column with each row's source file under this name.
    :param trigger_file: the producer's "batch complete" marker (``_SUCCESS``, ``READY``), relative to ``source``:
        never ingested, and moved or deleted with the batch's files by ``completion``, so that the next batch is
        announced by a fresh marker (what ``FilePatternSensor(trigger_file=...)`` waits for). (templated)
    :param completion: ``leave``, ``move`` (to ``archive_folder``) or ``delete`` the files after the commit.
    :param archive_folder: where ``completion="move"`` puts the files: a path on the same server; a relative path
        is relative to ``source`` (``"done"`` is ``<source>/done``), never to the worker's working directory.
        (templated)
    :param on_vanished: ``fail`` or ``skip`` a listed file that is gone when it is read.
    :param empty_files: a 0-byte file is ``skip``-ped (default: left in place, named in the log), an ``error``
        (the run fails, nothing is published), or ``land``-ed (bytes and ledger, no rows).

    A run with nothing to land (empty folder, nothing matches, everything already ingested) succeeds, publishes no
    partition and leaves the watermark as it was; its summary says ``files_ingested: 0``.
    """

    template_fields: Sequence[str] = (
        *LakeIngestOperator.template_fields,
        "source",
        "conn_id",
        "pattern",
        "regex",
        "format",
        "delimiter",
        "encoding",
        "archive_folder",
        "trigger_file",
    )
    default_system = "files"

    def __init__(
        self,
        *,
        source: str,
        conn_id: str | None = None,
        pattern: str = "*",
        regex: str | None = None,
        recursive: bool = False,
        min_age: float | timedelta = 0,
        min_size: int = 0,
        max_size: int | None = None,
        max_files: int | None = None,
        exclude: Sequence[str] = (),
        format: str = "csv",
        compression: str | None = "infer",
        delimiter: str = ",",
        header: bool = True,
        column_names: Sequence[str] | None = None,
        quote_char: str | None = '"',
        escape_char: str | None = None,
        encoding: str = "utf-8",
        null_values: Sequence[str] | None = None,
        fixed_fields: Sequence[Any] = (),
        schema: pa.Schema | dict[str, str] | None = None,
        schema_drift: str = "fail",
        bad_rows: str = "fail",
        file_column: str | None = None,
        trigger_file: str | None = None,
        completion: str = "leave",
        archive_folder: str | None = None,
        on_vanished: str = "fail",
        empty_files: str = "skip",
        **kwargs: Any,
    ) -> None:
        if format == "binary":
            kwargs.setdefault("zone", "landing")  # bytes only: the dataset is the landing copy
        super().__init__(**kwargs)
        self.source = source
        self.conn_id = conn_id
        self.pattern = pattern
        self.regex = regex
        self.recursive = recursive
        self.min_age = seconds(min_age)
        self.min_size = min_size
        self.max_size = max_size
        self.max_files = max_files
        self.exclude = tuple(exclude)
        self.format = format
        self.compression = compression
        self.delimiter = delimiter
        self.header = header
        self.column_names = tuple(column_names) if column_names else None
        self.quote_char = quote_char
        self.escape_char = escape_char
        self.encoding = encoding
        self.null_values = tuple(null_values) if null_values is not None else None
        self.fixed_fields = list(fixed_fields)
        self.schema = schema
        self.schema_drift = schema_drift
        self.bad_rows = bad_rows
        self.file_column = file_column
        self.trigger_file = trigger_file
        self.completion = completion
        self.archive_folder = archive_folder
        self.on_vanished = on_vanished
        self.empty_files = empty_files
        self._archive: str | None = None
        self._fs: FileSystem | None = None
        self._folder = ""
        self._result: IngestResult | None = None
        validate_strategy(completion, archive_folder)

    def format_options(self) -> FormatOptions:
        return FormatOptions(
            format=self.format,
            compression=self.compression,
            delimiter=self.delimiter,
            header=self.header,
            column_names=self.column_names,
            quote_char=self.quote_char,
            escape_char=self.escape_char,
            encoding=self.encoding,
            null_values=self.null_values,
            fixed_fields=FixedField.parse_spec(self.fixed_fields) if self.fixed_fields else (),
            bad_rows=self.bad_rows,
        )

    def ingest(self, txn: Transaction, context: Context, partition: str) -> None:
        landing = DatasetRef("landing", self.system, self.dataset)
        raw = None if self.format == "binary" else self.dataset_ref
        if raw == landing:
            raise SourceError(f"{self.task_id}: zone='landing' holds the bytes; decoded data needs another zone")
        self._fs, folder = connect(self.source, self.conn_id)
        self._folder = folder
        archived: tuple[str, ...] = ()  # the watch excludes self.exclude
        archive = self._archive = archive_path(self.archive_folder, folder)
        if archive and self.completion == "move":
            inside = posixpath.relpath(posixpath.normpath(archive), posixpath.normpath(folder))
            if not inside.startswith(".."):
                archived = (f"{inside}/*",)  # archived files must not come back as new ones
        files = FileWatch.of(self).selection(
            self._fs,
            folder,
            exclude=archived,
            min_size=self.min_size,
            max_size=self.max_size,
            max_files=self.max_files,
            options=self.format_options(),
            schema=schema_from(self.schema),
            schema_drift=self.schema_drift,
            file_column=self.file_column,
            on_vanished=self.on_vanished,
            empty_files=self.empty_files,
        )
        self._result = files.run(txn, txn.lake, landing=landing, raw=raw, partition=partition)
        self._sources.append(files.describe())
        summary = self._result.summary()
        self.log.info(
            "%s new file(s), %s carried forward, %s skipped (already in the lake), %s left for the next run",
            summary["files_ingested"],
            summary["files_carried_forward"],
            summary["files_skipped"],
            summary["files_left_for_next_run"],
        )

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            summary = super().execute(context)
            result = self._result
            if result is not None and self._fs is not None:
                # Only after the commit: a failed run leaves every source file where it was.
                files = result.completed
                if files and self.trigger_file and not result.deferred:
                    # The batch is all in: its marker goes with it, or it would announce the next batch too early.
                    marker = self._fs.stat(posixpath.join(self._folder, self.trigger_file))
                    if marker is not None:
                        files = [*files, RemoteFile(marker.path, self.trigger_file, marker.size, marker.mtime)]
                done = complete(self._fs, files, self.completion, self._archive, self.source)
                for line in done:
                    self.log.info("Completion: %s", line)
                summary["ingest"] = result.summary()
            return summary
        finally:
            if self._fs is not None:
                self._fs.close()
                self._fs = None
