"""MainframeHook against real servers: the z/OS-like FTP server, an SFTP server (password and key), local files."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_zaloni.hooks.mainframe import (
    DatasetNotFoundError,
    MainframeAuthError,
    MainframeHook,
    MainframeTransferError,
)
from airflow_zaloni.sources.mainframe.client import parse_dataset_list
from tests.servers.sftp import SFTPServerInfo, make_client_key, sftp_server
from tests.servers.zos_ftp import ZosFTPServerInfo, zos_ftp_server

pytestmark = pytest.mark.timeout(60)

FB_RECORDS = [f"CUST{i:04d}".encode("cp037").ljust(80, b"\x40") for i in range(5)]
VB_RECORDS = [b"\xc1" * 3, b"\xc2" * 17, b"\xc3" * 1]


def rdw(records: list[bytes]) -> bytes:
    return b"".join(struct.pack(">HH", len(r) + 4, 0) + r for r in records)


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "mainframe", **fields}))


@pytest.fixture
def zos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ZosFTPServerInfo]:
    with zos_ftp_server(tmp_path, users={"alice": "s3cret"}) as srv:
        srv.catalog.add("HLQ.CUST.DATA", records=FB_RECORDS, recfm="FB", lrecl=80)
        srv.catalog.add("HLQ.TXN.DATA", records=VB_RECORDS, recfm="VB", lrecl=84)
        srv.catalog.add_gdg("HLQ.DAILY", [b"\xf1" * 80, b"\xf2" * 80, b"\xf3" * 80], recfm="FB", lrecl=80)
        set_conn(monkeypatch, "zos", host=srv.host, port=srv.port, login="alice", password="s3cret")
        yield srv


def test_fixed_dataset_arrives_byte_exact_in_binary(zos: ZosFTPServerInfo) -> None:
    out = io.BytesIO()
    with MainframeHook("zos") as hook:
        result = hook.retrieve("'hlq.cust.data'", out)
    assert out.getvalue() == b"".join(FB_RECORDS)
    assert (result.dataset.name, result.dataset.recfm, result.dataset.lrecl, result.rdw) == (
        "HLQ.CUST.DATA",
        "FB",
        80,
        False,
    )
    assert "TYPE I" in zos.commands
    assert "RETR 'HLQ.CUST.DATA'" in zos.commands  # fully qualified, quoted


def test_variable_dataset_keeps_record_boundaries_with_site_rdw(zos: ZosFTPServerInfo) -> None:
    out = io.BytesIO()
    with MainframeHook("zos") as hook:
        result = hook.retrieve("HLQ.TXN.DATA", out)
    assert out.getvalue() == rdw(VB_RECORDS)
    assert result.rdw is True
    retr = zos.commands.index("RETR 'HLQ.TXN.DATA'")
    assert "SITE RDW" in zos.commands[:retr]


def test_rdw_is_switched_off_again_for_a_fixed_dataset_in_the_same_session(zos: ZosFTPServerInfo) -> None:
    with MainframeHook("zos") as hook:
        hook.retrieve("HLQ.TXN.DATA", io.BytesIO())
        out = io.BytesIO()
        hook.retrieve("HLQ.CUST.DATA", out)
    assert out.getvalue() == b"".join(FB_RECORDS)
    assert zos.commands.index("SITE NORDW") > zos.commands.index("SITE RDW")


def test_listing_reports_recfm_lrecl_and_blksize(zos: ZosFTPServerInfo) -> None:
    with MainframeHook("zos") as hook:
        infos = {i.name: i for i in hook.list_datasets("HLQ.**")}
    assert set(infos) == {"HLQ.CUST.DATA", "HLQ.TXN.DATA", *(f"HLQ.DAILY.G000{g}V00" for g in (1, 2, 3))}
    assert (infos["HLQ.TXN.DATA"].recfm, infos["HLQ.TXN.DATA"].lrecl, infos["HLQ.TXN.DATA"].blksize) == (
        "VB",
        84,
        27998,
    )
    assert infos["HLQ.CUST.DATA"].is_variable is False


def test_gdg_relative_generations_resolve_to_absolute_names(zos: ZosFTPServerInfo) -> None:
    with MainframeHook("zos") as hook:
        assert hook.resolve_name("HLQ.DAILY(0)") == "HLQ.DAILY.G0003V00"
        assert hook.resolve_name("'hlq.daily(-2)'") == "HLQ.DAILY.G0001V00"
        out = io.BytesIO()
        result = hook.retrieve("HLQ.DAILY(-1)", out)
        assert (result.dataset.name, out.getvalue()) == ("HLQ.DAILY.G0002V00", b"\xf2" * 80)
        with pytest.raises(
            DatasetNotFoundError, match=r"GDG HLQ\.DAILY on ftp://.* has 3 generation.*\(-3\) does not exist"
        ):
            hook.resolve_name("HLQ.DAILY(-3)")


def test_wrong_password_names_host_and_user_never_the_password(
    zos: ZosFTPServerInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, "zos_bad", host=zos.host, port=zos.port, login="alice", password="Wr0ngPassw0rd")
    with pytest.raises(MainframeAuthError) as err, MainframeHook("zos_bad") as hook:
        hook.retrieve("HLQ.CUST.DATA", io.BytesIO())
    message = str(err.value)
    assert f"127.0.0.1:{zos.port}" in message and "'alice'" in message
    assert "Wr0ngPassw0rd" not in message and "Wr0ngPassw0rd" not in repr(err.value.__cause__)


def test_missing_dataset_is_named(zos: ZosFTPServerInfo) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"HLQ\.NO\.SUCH not found on ftp://alice@127\.0\.0\.1"):
        MainframeHook("zos").retrieve("HLQ.NO.SUCH", io.BytesIO())


def test_invalid_dataset_name_is_refused_before_any_transfer(zos: ZosFTPServerInfo) -> None:
    with pytest.raises(ValueError, match=r"invalid data set name 'HLQ\.TOOLONGQUALIFIER'"):
        MainframeHook("zos").retrieve("HLQ.TOOLONGQUALIFIER", io.BytesIO())


def test_transfer_failing_midway_raises_instead_of_returning_a_short_file(zos: ZosFTPServerInfo) -> None:
    zos.catalog.add("HLQ.BROKEN", b"\x40" * 200_000, recfm="FB", lrecl=100, fail_after=100_000)
    with pytest.raises(MainframeTransferError, match=r"transfer of HLQ\.BROKEN .* failed after 100000 bytes: 426"):
        MainframeHook("zos").retrieve("HLQ.BROKEN", io.BytesIO())


def test_large_dataset_streams_in_bounded_memory(zos: ZosFTPServerInfo) -> None:
    size = 24 * 1024 * 1024
    with (zos.catalog.root / "seed").open("wb") as f:
        f.write(bytes(range(256)) * (size // 256))
    zos.catalog.add("HLQ.BIG", (zos.catalog.root / "seed").read_bytes(), recfm="FB", lrecl=256)
    seen = 0

    def count(chunk: bytes) -> None:
        nonlocal seen
        seen += len(chunk)

    tracemalloc.start()
    try:
        MainframeHook("zos").retrieve("HLQ.BIG", count)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == size
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB data set"


def test_listing_parser_reads_tape_migrated_and_run_together_columns() -> None:
    lines = [
        "Volume Unit    Referred Ext Used Recfm Lrecl BlkSz Dsorg Dsname",
        "XRFS95 3390   2017/08/04  313875  FB    1024 27648  PS  'USERHLQ.T2.DATA'",
        "H19761 Tape                                             G0034V00",
        "Migrated                                                OLD.DATA",
        "SHT331 3390   **NONE**    1   15  VB     114 27998  PS  DUMMY",
    ]
    infos = parse_dataset_list(lines, prefix="HLQ.")
    assert [(i.name, i.recfm, i.lrecl, i.migrated) for i in infos] == [
        ("USERHLQ.T2.DATA", "FB", 1024, False),
        ("HLQ.G0034V00", None, None, False),
        ("HLQ.OLD.DATA", None, None, True),
        ("HLQ.DUMMY", "VB", 114, False),
    ]


# -- SFTP (z/OS OpenSSH style paths //'HLQ.DS') -----------------------------------------------------------------


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[tuple[SFTPServerInfo, str]]:
    key = make_client_key(tmp_path)
    with sftp_server(tmp_path, users={"alice": "pw"}, authorized_keys={"batch": [key.public_line]}) as srv:
        (srv.root / "'HLQ.CUST.DATA'").write_bytes(b"".join(FB_RECORDS))
        for gen in (1, 2):
            (srv.root / f"'HLQ.DAILY.G000{gen}V00'").write_bytes(bytes([0xF0 + gen]) * 80)
        yield srv, str(key.private_path)


def test_sftp_with_password_and_pinned_host_key(
    sftp: tuple[SFTPServerInfo, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, _ = sftp
    extra = {"protocol": "sftp", "host_key": srv.host_key_public}
    set_conn(monkeypatch, "mf_sftp", host=srv.host, port=srv.port, login="alice", password="pw", extra=extra)
    out = io.BytesIO()
    with MainframeHook("mf_sftp") as hook:
        assert hook.retrieve("HLQ.CUST.DATA", out).dataset.name == "HLQ.CUST.DATA"
        assert hook.resolve_name("HLQ.DAILY(0)") == "HLQ.DAILY.G0002V00"
        assert hook.test_connection()[0] is True
    assert out.getvalue() == b"".join(FB_RECORDS)


def test_sftp_with_key_file(sftp: tuple[SFTPServerInfo, str], monkeypatch: pytest.MonkeyPatch) -> None:
    srv, key_file = sftp
    extra = {"protocol": "sftp", "key_file": key_file, "no_host_key_check": True}
    set_conn(monkeypatch, "mf_key", host=srv.host, port=srv.port, login="batch", extra=extra)
    out = io.BytesIO()
    MainframeHook("mf_key").retrieve("HLQ.DAILY(-1)", out)
    assert out.getvalue() == b"\xf1" * 80


def test_sftp_with_private_key_text(sftp: tuple[SFTPServerInfo, str], monkeypatch: pytest.MonkeyPatch) -> None:
    srv, key_file = sftp
    extra = {"protocol": "sftp", "private_key": Path(key_file).read_text(), "host_key": srv.host_key_public}
    set_conn(monkeypatch, "mf_pkey", host=srv.host, port=srv.port, login="batch", extra=extra)
    assert [i.name for i in MainframeHook("mf_pkey").list_datasets("HLQ.DAILY.*")] == [
        "HLQ.DAILY.G0001V00",
        "HLQ.DAILY.G0002V00",
    ]


def test_sftp_wrong_password_and_wrong_host_key(
    sftp: tuple[SFTPServerInfo, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, _ = sftp
    set_conn(monkeypatch, "mf_bad", host=srv.host, port=srv.port, login="alice", password="nope-nope",
             extra={"protocol": "sftp", "no_host_key_check": True})  # fmt: skip
    with pytest.raises(MainframeAuthError, match=rf"sftp://alice@127\.0\.0\.1:{srv.port} as user 'alice'") as err:
        MainframeHook("mf_bad").retrieve("HLQ.CUST.DATA", io.BytesIO())
    assert "nope-nope" not in str(err.value)

    other_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    set_conn(monkeypatch, "mf_mitm", host=srv.host, port=srv.port, login="alice", password="pw",
             extra={"protocol": "sftp", "host_key": other_key})  # fmt: skip
    with pytest.raises(MainframeTransferError, match=r"cannot connect to sftp://alice@127\.0\.0\.1"):
        MainframeHook("mf_mitm").retrieve("HLQ.CUST.DATA", io.BytesIO())


def test_sftp_missing_dataset(sftp: tuple[SFTPServerInfo, str], monkeypatch: pytest.MonkeyPatch) -> None:
    srv, _ = sftp
    set_conn(monkeypatch, "mf_s", host=srv.host, port=srv.port, login="alice", password="pw",
             extra={"protocol": "sftp", "no_host_key_check": True})  # fmt: skip
    with pytest.raises(DatasetNotFoundError, match=r"HLQ\.GONE not found on sftp://.*path //'HLQ\.GONE'"):
        MainframeHook("mf_s").retrieve("HLQ.GONE", io.BytesIO())


# -- local ---------------------------------------------------------------------------------------------------------


def test_local_protocol_reads_files_and_gdg_generations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "HLQ.CUST.DATA").write_bytes(b"".join(FB_RECORDS))
    (tmp_path / "HLQ.GDG.G0001V00").write_bytes(b"old")
    (tmp_path / "HLQ.GDG.G0002V00").write_bytes(b"new")
    set_conn(monkeypatch, "mf_local", extra={"protocol": "local", "root": str(tmp_path)})
    with MainframeHook("mf_local") as hook:
        out = io.BytesIO()
        hook.retrieve("HLQ.CUST.DATA", out)
        assert out.getvalue() == b"".join(FB_RECORDS)
        with hook.open_dataset("HLQ.GDG(0)") as stream:
            assert (stream.name, stream.read()) == ("HLQ.GDG.G0002V00", b"new")
        with pytest.raises(DatasetNotFoundError, match="no file"):
            hook.open_dataset("HLQ.MISSING")


def test_unknown_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mf_x", host="h", extra={"protocol": "tape"})
    with pytest.raises(ValueError, match="protocol 'tape' is not one of ftp, ftps, sftp, local"):
        MainframeHook("mf_x").get_conn()


# -- FTPS ----------------------------------------------------------------------------------------------------------


def test_ftps_transfers_over_tls_and_refuses_an_untrusted_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with zos_ftp_server(tmp_path, users={"alice": "s3cret"}, tls=True) as srv:
        srv.catalog.add("HLQ.TXN.DATA", records=VB_RECORDS, recfm="VB", lrecl=84)
        assert srv.ca_file is not None
        fields = {"host": srv.host, "port": srv.port, "login": "alice", "password": "s3cret"}
        set_conn(monkeypatch, "zos_tls", **fields, extra={"protocol": "ftps", "ca_file": str(srv.ca_file)})
        out = io.BytesIO()
        with MainframeHook("zos_tls") as hook:
            assert hook.retrieve("HLQ.TXN.DATA", out).rdw is True
        assert out.getvalue() == rdw(VB_RECORDS)
        assert srv.commands[:1] == ["AUTH TLS"] and "PROT P" in srv.commands

        set_conn(monkeypatch, "zos_untrusted", **fields, extra={"protocol": "ftps"})
        with pytest.raises(MainframeTransferError, match="CERTIFICATE_VERIFY_FAILED"):
            MainframeHook("zos_untrusted").retrieve("HLQ.TXN.DATA", io.BytesIO())


def test_unreachable_host_is_retried_then_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    set_conn(monkeypatch, "zos_down", host="127.0.0.1", port=port, login="alice", password="x",
             extra={"connect_retry_seconds": 1.5})  # fmt: skip
    with pytest.raises(
        MainframeTransferError, match=rf"cannot connect to ftp://alice@127\.0\.0\.1:{port} \((\d+)"
    ) as err:
        MainframeHook("zos_down").retrieve("HLQ.CUST.DATA", io.BytesIO())
    attempts = int(str(err.value).split("(")[1].split()[0])
    assert attempts >= 2  # retried within the budget, then gave up with the host named


def test_a_unix_ftp_server_gets_paths_and_no_site_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.servers.ftp import ftp_server

    with ftp_server(tmp_path, users={"alice": "pw"}) as srv:
        (srv.root / "drop").mkdir()
        (srv.root / "drop" / "CUST.DAT").write_bytes(b"".join(FB_RECORDS))
        set_conn(monkeypatch, "unix_ftp", host=srv.host, port=srv.port, login="alice", password="pw")
        out = io.BytesIO()
        with MainframeHook("unix_ftp") as hook:
            assert [i.name for i in hook.list_datasets("/drop/*.DAT")] == ["/drop/CUST.DAT"]
            result = hook.retrieve("/drop/CUST.DAT", out)
            assert hook.test_connection()[0] is True
    assert out.getvalue() == b"".join(FB_RECORDS)
    assert (result.dataset.name, result.rdw) == ("/drop/CUST.DAT", False)
