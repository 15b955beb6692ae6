"""Mainframe data sets as a source: z/OS FTP, FTPS, SFTP or local bytes + a COBOL copybook -> Arrow batches.

* :mod:`.client` -- the transport clients (:class:`ZosFtpClient`, :class:`SftpClient`, :class:`LocalClient`) that
  list and stream data sets; Airflow-free, the hook builds one from a connection;
* :mod:`.source` -- :class:`MainframeSource`, bytes decoded with a copybook by :mod:`airflow_zaloni.mainframe`.

The record layout (the schema) is the copybook, parsed by :mod:`airflow_zaloni.mainframe.copybook`.
:class:`MainframeSource` is imported on first use: the decoder pulls in pyarrow and numpy, which the hook and a DAG
file that only names the operator do not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_zaloni.sources.mainframe import client
from airflow_zaloni.sources.mainframe.client import *  # noqa: F403 (the clients are light: import them now)
from airflow_zaloni.utils.lazy import lazy_getattr

if TYPE_CHECKING:
    from airflow_zaloni.sources.mainframe.source import MainframeSource

__all__ = [*client.__all__, "MainframeSource"]

__getattr__ = lazy_getattr(__name__, {"MainframeSource": "airflow_zaloni.sources.mainframe.source"})
