"""``FilePatternSensor``: wait, deferrable, for files on local disk, SFTP, FTP/FTPS, HDFS or an object store."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

from airflow_zaloni.sources.files.watch import FileWatch, seconds
from airflow_zaloni.triggers.files import FilePatternTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

# the trigger fires "timeout" itself at the deadline; Airflow's own deferral timeout is only a backstop
_BACKSTOP = timedelta(minutes=5)


class FilePatternSensor(BaseSensorOperator):
    """Succeed when files matching ``pattern`` are in ``source`` (and, if named, the ``trigger_file`` too).

    Deferrable by default: the wait holds no worker slot. The XCom value is the list of matching paths relative to
    ``source``. Takes the same locations and connections as
    :class:`~airflow_zaloni.operators.files.FileToLakeOperator`.

    :param source: folder to watch: a local path, ``sftp://``, ``ftp://``, ``ftps://``, ``webhdfs://`` or any
        fsspec URL. (templated)
    :param conn_id: Airflow connection of the server. (templated)
    :param pattern: glob on the relative path. (templated)
    :param regex: full-match regular expression instead of ``pattern``. (templated)
    :param recursive: look into sub-folders.
    :param min_files: how many matching files make the folder ready.
    :param min_age: only count files modified at least this long ago (seconds or timedelta).
    :param trigger_file: a marker (relative path such as ``_SUCCESS``) that must exist as well. (templated)
    :param exclude: globs of relative paths never counted, as ``FileToLakeOperator``'s ``exclude``: with
        ``recursive=True`` and the operator archiving into a folder inside ``source`` (``archive_folder="archive"``),
        give ``exclude=["archive/*"]``, else the archived files count as new ones.
    :param deferrable: wait in the triggerer (default) or poke.
    """

    template_fields: Sequence[str] = ("source", "conn_id", "pattern", "regex", "trigger_file")

    def __init__(
        self,
        *,
        source: str,
        conn_id: str | None = None,
        pattern: str = "*",
        regex: str | None = None,
        recursive: bool = False,
        min_files: int = 1,
        min_age: float | timedelta = 0,
        trigger_file: str | None = None,
        exclude: Sequence[str] = (),
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.conn_id = conn_id
        self.pattern = pattern
        self.regex = regex
        self.recursive = recursive
        self.min_files = min_files
        self.min_age = seconds(min_age)
        self.trigger_file = trigger_file
        self.exclude = tuple(exclude)
        self.deferrable = deferrable

    def _watch(self) -> FileWatch:
        return FileWatch.of(self)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        found = self._watch().check()  # already there: no need to hand the wait to the triggerer
        if found is not None:
            self.log.info("Ready: %d file(s) in %s", len(found), self.source)
            return found
        self.defer(
            trigger=FilePatternTrigger(
                watch=self._watch().to_dict(), poll_interval=self.poke_interval, deadline=time.time() + self.timeout
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + _BACKSTOP,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[str]:
        if event.get("status") != "success":
            raise AirflowException(f"{self.task_id}: {event.get('message') or event}")
        self.log.info("Ready: %d file(s) in %s", len(event["files"]), self.source)
        return list(event["files"])

    def poke(self, context: Context) -> bool | PokeReturnValue:
        found = self._watch().check()
        if found is None:
            self.log.info("Waiting for %s", self._watch().describe())
            return False
        return PokeReturnValue(is_done=True, xcom_value=found)
