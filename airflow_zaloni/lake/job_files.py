"""The Parquet files an external job (Spark) wrote into a folder, taken into a lake writer.

Both ways a job's output reaches the lake go through here, so they agree on which files are data:

* :class:`airflow_zaloni.jobs.output.JobOutput` has the job write into a transaction's staging folder and
  *adopts* the files as they are (:func:`adopt_job_files`): one schema, the job's own;
* :func:`airflow_zaloni.lake.promote.publish_spark_output` has the job write elsewhere and *streams* the files
  through the writer (:func:`stream_job_files`), which conforms every batch to the target schema: Spark writes
  timestamps as INT96 (nanoseconds) and list items as ``element``, which the target's own schema need not match.

``fs`` is a ``pyarrow.fs.FileSystem`` (a lake's ``storage.arrow_filesystem()``, or one from the job's output URI).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from airflow_zaloni.lake.errors import LakeError

if TYPE_CHECKING:
    from airflow_zaloni.lake.writer import LakeWriter


def is_job_data_file(name: str) -> bool:
    """A Parquet file a reader should see: Spark also writes ``_SUCCESS`` and ``.crc`` side files."""
    return name.endswith(".parquet") and not name.startswith(("_", "."))


def job_files(fs: Any, folder: str) -> list[str]:
    """The names of the data files directly in ``folder``, sorted; none when the folder does not exist."""
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.File and is_job_data_file(i.base_name))


def adopt_job_files(writer: LakeWriter, fs: Any, *, what: str) -> None:
    """Record the job's files in ``writer.staging_dir`` as the writer's own (rows and schema from each footer, size
    and sha256 read back); all must have one schema. ``what`` names the partition in errors."""
    import pyarrow.parquet as pq

    folder = writer.staging_dir
    names = job_files(fs, folder)
    if not names:
        import pyarrow.fs as pafs

        found = sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)))
        raise LakeError(
            f"{what}: the job wrote no Parquet files into {folder} (found: {found or 'nothing'}); nothing is published"
        )
    for name in names:
        path = f"{folder}/{name}"
        with fs.open_input_file(path) as f:
            parquet = pq.ParquetFile(f)
            schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
        if writer.schema is None:
            writer.schema = schema
        elif not schema.equals(writer.schema, check_metadata=False):
            raise LakeError(
                f"{what}: {name} has schema {schema} but {names[0]} has {writer.schema}; nothing is published"
            )
        digest, size = hashlib.sha256(), 0
        with fs.open_input_stream(path) as f:
            while chunk := f.read(8 << 20):
                digest.update(chunk)
                size += len(chunk)
        writer.files.append({"path": name, "rows": rows, "bytes": size, "sha256": digest.hexdigest()})
        writer.rows += rows


def stream_job_files(writer: LakeWriter, fs: Any, folder: str, *, batch_rows: int) -> None:
    """Write the rows of the job's files in ``folder`` through ``writer`` (its schema), batch by batch; nothing when
    the folder is missing or empty (Spark writes no folder for an empty result of a DataFrame with no partitions)."""
    import pyarrow.dataset as pads

    names = job_files(fs, folder)
    if not names:
        return
    if writer.schema is None:
        raise LakeError(f"{writer.ref} {writer.partition}: the writer of a job's output needs the target schema")
    data = pads.dataset([f"{folder}/{n}" for n in names], filesystem=fs, format="parquet")
    for batch in data.to_batches(batch_size=batch_rows):
        writer.write_batch(batch.select(writer.schema.names))
