"""Land a mainframe data set in the lake: the original bytes in ``landing``, the decoded rows in ``raw``, one commit."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (dataset_name is None) == (path is None):
            raise ValueError("give exactly one of dataset_name (a mainframe data set) or path (a local file)")
        self.dataset_name = dataset_name
        self.path = path
        self.copybook = copybook
        self.options = dict(options or {})
        self.mainframe_conn_id = mainframe_conn_id
        self.rdw = rdw
        self.landing_zone = landing_zone

    # -- pieces ----------------------------------------------------------------------------------------------------
    def copybook_text(self) -> str:
        """The copybook's text: read from the file when :attr:`copybook` names one."""
        text = self.copybook
        if "\n" in text or len(text) >= 4096:
            return text
        if os.path.isfile(text):
            return Path(text).read_text(encoding="utf-8", errors="strict")
        if "/" in text or text.lower().endswith((".cpy", ".cob", ".cbl", ".copy", ".txt")):
            # One line that looks like a path is a missing copybook file, not copybook text.
            raise FileNotFoundError(f"copybook file {text} does not exist")
        return text

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
        try:
            with self.open_input() as stream:
                options = self.decoder_options(stream)
                file_name = landing_file_name(stream.name)
                with txn.open_file(landing, partition, file_name) as landed:
                    reader = tee_reader(stream, landed, name=stream.name)
                    source = MainframeSource(reader, copybook, options, name=stream.name)
                    writer = self.land(txn, self.dataset_ref, partition, source)
                    drain(reader)  # bytes after the last record still belong in landing
                    landed_bytes = landed.bytes
                    landed_sha256 = landed.sha256.hexdigest()
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
            },
            "landing": {"dataset": landing.key, "file": file_name},
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
            "%s (%s bytes from %s) -> %s records%s, %s corrupt value(s)",
            stream.name,
            f"{landed_bytes:,}",
            stream.where,
            f"{source.records:,}",
            f" {dict(source.records_per_segment)}" if source.records_per_segment else "",
            source.corrupt_values,
        )
