"""``%offload`` in a real IPython shell: it patches and restores (the calls themselves run
on the cluster in tests/cluster/test_remote.py)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from IPython.core.error import UsageError

from tests.conftest import ipython_shell


@pytest.fixture
def ip():
    shell = ipython_shell()
    shell.run_line_magic("load_ext", "workbench")
    return shell


def test_offload_magic_starts_lists_and_stops(ip, capsys):
    crc, norm = zlib.crc32, np.linalg.norm
    try:
        off = ip.run_line_magic("offload", "zlib.crc32 numpy.linalg.norm --placement compute")
        assert off.active and off.placement == "compute"
        assert zlib.crc32 is not crc and zlib.crc32.__wb_offload_original__ is crc
        assert np.linalg.norm.__wb_offload_original__ is norm
        ip.run_line_magic("offload", "")
        out = capsys.readouterr().out
        assert "zlib.crc32: 0 calls offloaded" in out and "numpy.linalg.norm" in out
        with pytest.raises(UsageError, match="already offloaded"):
            ip.run_line_magic("offload", "zlib.crc32")
        ip.run_line_magic("offload", "--off zlib.crc32")
        assert zlib.crc32 is crc and np.linalg.norm is not norm
    finally:
        ip.run_line_magic("offload", "--off")
    assert zlib.crc32 is crc and np.linalg.norm is norm
    ip.run_line_magic("offload", "")
    assert "nothing offloaded" in capsys.readouterr().out


def test_offload_magic_names_what_is_wrong(ip):
    with pytest.raises(UsageError, match="module 'zlib' has no function 'crc64'"):
        ip.run_line_magic("offload", "zlib.crc64")
    with pytest.raises(UsageError, match="not offloaded"):
        ip.run_line_magic("offload", "--off zlib.crc32")
