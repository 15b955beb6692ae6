"""Land a mainframe data set in the lake: the original bytes in ``landing``, the decoded rows in ``raw``, one commit.

A large local (or already landed) file can be fanned out across workers: :class:`MainframeSplitPlanOperator` cuts it
into byte ranges at record boundaries, a mapped ``MainframeToLakeOperator(..., fanout=True)`` decodes one range per
task, and a :class:`~airflow_zaloni.operators.commit.LakeCommitOperator` publishes every part in one commit.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_zaloni.lake import DatasetRef
from airflow_zaloni.operators.base import LakeIngestOperator
from airflow_zaloni.utils.tee import drain, tee_reader

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_zaloni.hooks.mainframe import DatasetStream
    from airflow_zaloni.lake import Transaction

# Options that already say how records are framed: when one is given, the operator does not add record_format.
_FRAMING_OPTIONS = {"record_format", "is_record_sequence", "is_xcom", "is_text", "record_length_field"}
_IBM_RDW = {"is_rdw_big_endian": "true", "is_rdw_part_of_record_length": "true"}


def _canon(option: str) -> str:
    return option.strip().lower().replace("-", "_")


def read_copybook(copybook: str) -> str:
    """A copybook's text: ``copybook`` itself, or the file it names."""
    if "\n" in copybook or len(copybook) >= 4096:
        return copybook
    if os.path.isfile(copybook):
        return Path(copybook).read_text(encoding="utf-8", errors="strict")
    if "/" in copybook or copybook.lower().endswith((".cpy", ".cob", ".cbl", ".copy", ".txt")):
        # One line that looks like a path is a missing copybook file, not copybook text.
        raise FileNotFoundError(f"copybook file {copybook} does not exist")
    return copybook


def checked_byte_range(value: Any) -> tuple[int, int]:
    """``[start, end]`` as planned (JSON lists from XCom), checked: two integers, ``0 <= start <= end``."""
    try:
        start, end = value
        if isinstance(start, bool) or isinstance(end, bool):
            raise TypeError
        start, end = int(start), int(end)
        if not 0 <= start <= end:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"byte_range must be [start, end] with 0 <= start <= end, got {value!r}") from None
    return start, end


def landing_file_name(dataset: str) -> str:
    """The landing file of a data set: its name (``HLQ.DATA.G0042V00``) or a path's base name, made path-safe."""
    base = dataset.rstrip("/").rsplit("/", 1)[-1].strip("'")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")
    return safe or "dataset.dat"


class MainframeToLakeOperator(LakeIngestOperator):
    """Copy a mainframe data set into the lake: bytes as received in ``landing``, rows decoded by a COBOL copybook
    in ``raw``, both published in one commit (a failure anywhere publishes neither).

    The data set is read once: the download streams through a tee into the landing file while the decoder reads
    it, so neither the file nor its rows are held in memory whole and nothing is spooled to local disk. V/VB data sets
    read over z/OS FTP arrive with their RDWs (``SITE RDW``); the decoder options then get ``record_format=V`` (unless
    the options already say how records are framed), ``is_rdw_big_endian=true`` and
    ``is_rdw_part_of_record_length=true`` (IBM's RDW; unless given).

    The manifest of the raw partition records, under ``mainframe``: the source (data set name as resolved, RECFM,
    LRECL, bytes, RDW, where it came from), the copybook's sha256, the options, the record count, records per
    segment and the count of corrupt values.

    :param dataset: lake dataset name (in ``landing`` and ``raw``). (templated)
    :param dataset_name: fully qualified data set name on the mainframe, e.g. ``PROD.CUST.MASTER`` or a GDG
        generation ``PROD.DAILY.TXN(0)``; read through ``mainframe_conn_id``. (templated)
    :param path: a local file to read instead of a data set (no connection is used). (templated)
    :param copybook: the COBOL copybook: its text, or the path of a file holding it. (templated)
    :param options: Cobrix reader options (``record_format``, ``ebcdic_code_page``, ``segment_field`` ...),
        names and string values as a Spark job passes them. (templated)
    :param mainframe_conn_id: connection of type ``mainframe`` (z/OS FTP/FTPS, SFTP or local).
    :param rdw: keep RDWs in the transfer; default: when the server reports a V/VB record format.
    :param landing_zone: zone that keeps the original bytes, ``landing`` by default. (templated)
    :param byte_range: ``[start, end]``, one range planned by :class:`MainframeSplitPlanOperator`: decode only the
        records that start in it (a local ``path`` only; with ``fanout=True``). The part whose range starts at byte 0
        lands the whole original file in ``landing`` (streamed while it decodes its own range), so the file is
        landed once per run; the other parts decode their range straight from the file (a fixed-length part seeks
        to its first record) and land nothing.
    """

    template_fields: Sequence[str] = (
        *LakeIngestOperator.template_fields,
        "dataset_name",
        "path",
        "copybook",
        "options",
        "landing_zone",
    )
    template_fields_renderers = {"copybook": "text", "options": "json"}
    ui_color = "#fdebd0"
    default_system = "mainframe"

    def __init__(
        self,
        *,
        copybook: str,
        dataset_name: str | None = None,
        path: str | None = None,
        options: Mapping[str, Any] | None = None,
        mainframe_conn_id: str = "mainframe_default",
        rdw: bool | None = None,
        landing_zone: str = "landing",
        byte_range: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (dataset_name is None) == (path is None):
            raise ValueError("give exactly one of dataset_name (a mainframe data set) or path (a local file)")
        if byte_range is not None and path is None:
            raise ValueError("byte_range needs path= (a local or landed file): a data set is read as one stream")
        if byte_range is not None and not self.fanout:
            raise ValueError("byte_range decodes one part of a file: use it on a mapped task with fanout=True")
        self.dataset_name = dataset_name
        self.path = path
        self.copybook = copybook
        self.options = dict(options or {})
        self.mainframe_conn_id = mainframe_conn_id
        self.rdw = rdw
        self.landing_zone = landing_zone
        self.byte_range = byte_range

    # -- pieces ----------------------------------------------------------------------------------------------------
    def copybook_text(self) -> str:
        """The copybook's text: read from the file when :attr:`copybook` names one."""
        return read_copybook(self.copybook)

    def open_input(self) -> DatasetStream:
        """The data set (through the connection) or the local file, as a stream."""
        from airflow_zaloni.hooks.mainframe import MainframeHook

        if self.path is not None:
            return MainframeHook.open_path(self.path)
        self._hook = MainframeHook(self.mainframe_conn_id)
        return self._hook.open_dataset(str(self.dataset_name), rdw=self.rdw)

    def decoder_options(self, stream: DatasetStream) -> dict[str, str]:
        """The user's options, plus what the transfer implies: RDWs kept by z/OS FTP are IBM RDWs (big endian, the
        length counting the 4 RDW bytes), which is not Cobrix's default."""
        options = {str(k): str(v) for k, v in self.options.items()}
        if stream.rdw:
            given = {_canon(k) for k in options}
            if not given & _FRAMING_OPTIONS:
                options["record_format"] = "V"
            for key, value in _IBM_RDW.items():
                if key not in given:
                    options[key] = value
        return options

    # -- the ingest --------------------------------------------------------------------------------------------------
    def ingest(self, txn: Transaction, context: Context, partition: str) -> None:
        from airflow_zaloni.sources.mainframe import MainframeSource

        copybook = self.copybook_text()
        landing = DatasetRef(self.landing_zone, self.system, self.dataset)
        byte_range = None if self.byte_range is None else checked_byte_range(self.byte_range)
        lands = byte_range is None or byte_range[0] == 0
        landed_bytes: int | None = None
        landed_sha256: str | None = None
        try:
            with self.open_input() as stream:
                options = self.decoder_options(stream)
                file_name = landing_file_name(stream.name)
                if lands:
                    with txn.open_file(landing, partition, file_name) as landed:
                        reader = tee_reader(stream, landed, name=stream.name)
                        source = MainframeSource(reader, copybook, options, name=stream.name, byte_range=byte_range)
                        writer = self.land(txn, self.dataset_ref, partition, source)
                        drain(reader)  # bytes after the last record (or this part's range) still belong in landing
                        landed_bytes = landed.bytes
                        landed_sha256 = landed.sha256.hexdigest()
                else:
                    # A later part: the file itself (seekable), not the stream, so fixed-length records are skipped
                    # by a seek. Its landing partition gets no file, only the record of this part (every part of a
                    # fan-out must be prepared for every dataset the commit publishes).
                    source = MainframeSource(str(self.path), copybook, options, name=stream.name, byte_range=byte_range)
                    writer = self.land(txn, self.dataset_ref, partition, source)
        finally:
            hook = getattr(self, "_hook", None)
            if hook is not None:
                hook.close()
        summary = {
            "source": {
                "dataset": stream.info.as_dict(),
                "requested": self.dataset_name if self.path is None else self.path,
                "from": stream.where,
                "rdw": stream.rdw,
                "bytes": landed_bytes,
                "sha256": landed_sha256,
                **({"byte_range": list(byte_range)} if byte_range is not None else {}),
            },
            "landing": {"dataset": landing.key, "file": file_name if lands else None},
            "copybook_sha256": hashlib.sha256(copybook.encode("utf-8")).hexdigest(),
            "options": options,
            "records": source.records,
            "records_per_segment": dict(source.records_per_segment),
            # Counted only where the decoder keeps them (generate_corrupt_fields=true); None says "not counted".
            "corrupt_values": source.corrupt_values if source.reader.opts.generate_corrupt_fields else None,
        }
        writer.extra["mainframe"] = summary
        txn.manifest_extra(landing, partition)["mainframe"] = {
            k: summary[k] for k in ("source", "copybook_sha256", "options")
        }
        self.log.info(
            "%s (%s from %s) -> %s records%s, %s corrupt value(s)",
            stream.name,
            f"{landed_bytes:,} bytes" if byte_range is None else f"bytes [{byte_range[0]:,}, {byte_range[1]:,})",
            stream.where,
            f"{source.records:,}",
            f" {dict(source.records_per_segment)}" if source.records_per_segment else "",
            source.corrupt_values,
        )


class MainframeSplitPlanOperator(BaseOperator):
    """Plan a fan-out of a large local (or landed) mainframe file: byte ranges that start at record boundaries.

    Fixed-length files are cut at multiples of the record length (by arithmetic); V, VB and other framings are
    framed once, headers only, and cut at the record nearest each even share of the bytes. The XCom is a list of
    ``[start, end]`` pairs that tile the file, one per mapped ``MainframeToLakeOperator``::

        plan = MainframeSplitPlanOperator(task_id="plan", path="/data/TXN.DAT", copybook="txn.cpy",
                                          options={"record_format": "VB"}, num_parts=8)
        parts = MainframeToLakeOperator.partial(task_id="part", path="/data/TXN.DAT", copybook="txn.cpy",
                                                options={"record_format": "VB"}, dataset="txn",
                                                fanout=True).expand(byte_range=plan.output)
        parts >> LakeCommitOperator(task_id="commit", parts_task_id="part", dataset="txn", system="mainframe")

    The parts must see the same file at the same path (a shared mount, or a file the run landed where every worker
    reads it). The part whose range starts at byte 0 lands the original file once; see ``byte_range``.

    :param path: the file to cut. (templated)
    :param copybook: the copybook, its text or a file path, as the parts decode with. (templated)
    :param options: the Cobrix reader options the parts decode with (the framing options decide the cuts).
        (templated)
    :param num_parts: ranges to plan (fewer when the file has fewer records).
    """

    template_fields: Sequence[str] = ("path", "copybook", "options")
    template_fields_renderers = {"copybook": "text", "options": "json"}
    ui_color = "#fdebd0"

    def __init__(
        self,
        *,
        path: str,
        copybook: str,
        options: Mapping[str, Any] | None = None,
        num_parts: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_parts < 1:
            raise ValueError(f"num_parts must be at least 1, got {num_parts}")
        self.path = path
        self.copybook = copybook
        self.options = dict(options or {})
        self.num_parts = num_parts

    def execute(self, context: Context) -> list[list[int]]:
        from airflow_zaloni.mainframe.ranges import plan_byte_ranges

        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"no file {self.path} to plan byte ranges of")
        options = {str(k): str(v) for k, v in self.options.items()}
        ranges = plan_byte_ranges(self.path, read_copybook(self.copybook), options, self.num_parts)
        self.log.info(
            "Planned %d byte range(s) of %s (%s bytes): %s",
            len(ranges),
            self.path,
            f"{os.path.getsize(self.path):,}",
            ", ".join(f"[{a:,}, {b:,})" for a, b in ranges),
        )
        return [[a, b] for a, b in ranges]
