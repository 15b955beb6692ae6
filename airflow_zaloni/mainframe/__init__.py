"""Mainframe data decoding: COBOL copybooks and EBCDIC records to Arrow, matching Cobrix (no JVM, no Spark).

.. code-block:: python

    from airflow_zaloni.mainframe import decode_file

    for batch in decode_file("CUSTOMERS.DAT", "customer.cpy", {"record_format": "VB"}):
        ...

Options are Cobrix's reader options (``record_format``, ``ebcdic_code_page``, ``segment_field`` ...), so the options
of a Spark job move over unchanged.
"""

from airflow_zaloni.mainframe.copybook import Copybook, Group, Primitive, parse_copybook
from airflow_zaloni.mainframe.errors import CopybookError, DecodeError, MainframeError, OptionError
from airflow_zaloni.mainframe.framing import register_record_header_parser
from airflow_zaloni.mainframe.options import ReaderOptions
from airflow_zaloni.mainframe.reader import MainframeReader, decode_file, decode_range, split_ranges

__all__ = [
    "Copybook",
    "CopybookError",
    "DecodeError",
    "Group",
    "MainframeError",
    "MainframeReader",
    "OptionError",
    "Primitive",
    "ReaderOptions",
    "decode_file",
    "decode_range",
    "parse_copybook",
    "register_record_header_parser",
    "split_ranges",
]
