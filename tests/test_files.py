"""Files replaced whole: the bundle, its model card, the back-test report and JSON Lines files."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudscreen.files import replace_file, replace_files, replace_text, text_writer


def test_a_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "new" / "card.md"  # the folder is created
    replace_text(path, "first\n")
    replace_text(path, "second ✓\n")
    assert path.read_text(encoding="utf-8") == "second ✓\n"
    assert [p.name for p in path.parent.iterdir()] == ["card.md"]


@pytest.mark.parametrize("failure", ["unencodable", "interrupt"])
def test_a_failed_write_leaves_the_previous_file_and_no_partial_one(tmp_path: Path, failure: str) -> None:
    path = tmp_path / "report.json"
    path.write_text("previous\n")
    if failure == "unencodable":  # a lone surrogate fails half-way through the UTF-8 encoding
        with pytest.raises(UnicodeEncodeError):
            replace_text(path, "a" * 100_000 + "\udc80")
    else:
        def interrupted(partial: Path) -> None:
            partial.write_text("half")
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            replace_file(path, interrupted)
    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_the_partial_file_keeps_the_suffix_that_chooses_the_compression(tmp_path: Path) -> None:
    seen: list[Path] = []

    def write(partial: Path) -> int:
        seen.append(partial)
        return partial.write_bytes(b"rows")

    assert replace_file(tmp_path / "rows.jsonl.gz", write) == 4
    assert seen[0].suffix == ".gz" and seen[0].parent == tmp_path and seen[0].name.startswith(".")
    assert (tmp_path / "rows.jsonl.gz").read_bytes() == b"rows" and not seen[0].exists()


def test_files_replaced_together_are_all_new_or_all_as_they_were(tmp_path: Path) -> None:
    """A model and its card: a failure writing the last leaves the first as it was."""
    bundle, card = tmp_path / "model.joblib", tmp_path / "model_card.json"
    replace_files({bundle: text_writer("v1 model"), card: text_writer("v1 card")})

    def fails(partial: Path) -> None:
        partial.write_text("half a card")
        raise OSError(27, "File too large")

    with pytest.raises(OSError, match="File too large"):
        replace_files({bundle: text_writer("v2 model"), card: fails})
    assert (bundle.read_text(), card.read_text()) == ("v1 model", "v1 card")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.joblib", "model_card.json"]
    replace_files({bundle: text_writer("v2 model"), card: text_writer("v2 card")})
    assert (bundle.read_text(), card.read_text()) == ("v2 model", "v2 card")


def test_a_rename_that_fails_puts_back_the_files_renamed_before_it(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    bundle, card, notes = tmp_path / "model.joblib", tmp_path / "model_card.json", tmp_path / "MODEL_CARD.md"
    replace_files({bundle: text_writer("v1 model"), card: text_writer("v1 card")})
    notes.mkdir()  # a folder where the last file goes: refused before any rename
    with pytest.raises(IsADirectoryError):
        replace_files({bundle: text_writer("v2"), card: text_writer("v2"), notes: text_writer("v2")})
    assert (bundle.read_text(), card.read_text()) == ("v1 model", "v1 card")
    notes.rmdir()
    import os

    real_replace, calls = os.replace, []

    def second_rename_fails(src: Path, dst: Path) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="Input/output error"):
        replace_files({bundle: text_writer("v2"), card: text_writer("v2"), notes: text_writer("v2")})
    monkeypatch.undo()
    assert (bundle.read_text(), card.read_text()) == ("v1 model", "v1 card")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.joblib", "model_card.json"]


def test_a_gz_name_in_capitals_is_compressed_too(tmp_path: Path) -> None:
    """``orders.jsonl.GZ`` was written as plain text and read back as such."""
    import gzip

    from fraudscreen.training.jsonl import iter_jsonl, write_jsonl

    path = tmp_path / "orders.jsonl.GZ"
    write_jsonl([{"a": 1}, {"b": 2}], path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # the gzip magic number
    assert gzip.decompress(path.read_bytes()).decode().splitlines() == ['{"a":1}', '{"b":2}']
    assert list(iter_jsonl(path)) == [{"a": 1}, {"b": 2}]
