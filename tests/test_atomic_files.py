"""Atomic writes: the old file or the new one, never half, and no staging file left behind."""

import pytest

from recsim_meta.atomic_files import atomic_file


def test_a_finished_write_replaces_the_file_and_a_failed_one_keeps_the_old(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("old\n")
    with atomic_file(path) as file:
        file.write("new\n")
        assert path.read_text() == "old\n"  # nothing shows until the block ends
    assert path.read_text() == "new\n"

    with pytest.raises(KeyboardInterrupt), atomic_file(path) as file:
        file.write("half")
        raise KeyboardInterrupt
    assert path.read_text() == "new\n" and list(tmp_path.iterdir()) == [path]


def test_a_new_file_in_a_new_folder_and_bytes(tmp_path):
    path = tmp_path / "a" / "b.bin"
    with atomic_file(path, "wb") as file:
        file.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"


def test_a_mode_that_does_not_write_a_whole_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"mode must be 'w' or 'wb', got 'a'"), atomic_file(tmp_path / "x", "a"):
        pass
    assert list(tmp_path.iterdir()) == []
