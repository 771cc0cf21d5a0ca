"""fileio: atomic writes that never leave half a file, and JSON that is checked on reading."""

import os

import pytest

from gridnn import fileio
from gridnn.errors import DataError


# ---- atomic writes ---------------------------------------------------------------------------
def test_atomic_write_replaces_the_file(tmp_path):
    path = tmp_path / "f.json"
    fileio.atomic_write(path, "old")
    fileio.atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.json"]


@pytest.mark.parametrize("fail_in", ["fsync", "replace", "write"])
def test_atomic_write_failing_midway_keeps_the_old_file(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"old contents")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if fail_in == "write":  # the data is half written when the disk fills up
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(data[: len(data) // 2])
                boom()

            def __getattr__(self, name):
                return getattr(self.f, name)

        monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(os, fail_in, boom)
    with pytest.raises(OSError, match="No space left"):
        fileio.atomic_write(path, b"new contents that never fully arrive" * 100)
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["weights.safetensors"]  # no temporary file left behind


def test_read_json_refuses_what_is_not_a_json_object(tmp_path):
    (tmp_path / "c.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"c.json must hold a JSON object, found list"):
        fileio.read_json(tmp_path / "c.json")
    (tmp_path / "d.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(DataError, match=r"d.json is not valid JSON"):
        fileio.read_json(tmp_path / "d.json")
