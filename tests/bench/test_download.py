"""``download``: the public files from a local mirror, checked and laid out as the benchmark reads."""

from __future__ import annotations

import pytest

from green_chain.bench import download as dl
from green_chain.bench import sources
from green_chain.bench.scenarios import get_scenarios
from green_chain.bench.scenarios.mixed import MixedStream
from green_chain.paths import SAMPLE_DIR
from green_chain.testing.data_mirror import write_mirror


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror of the published files, made from the embedded sample's files."""
    base = tmp_path / "mirror"
    monkeypatch.setattr(sources, "DATA_FILES", write_mirror(base))
    return base.as_uri()


def test_download_lays_out_what_the_scenarios_read(mirror, tmp_path) -> None:
    to = tmp_path / "full"
    done = dl.download(sources.files_for(None), to, base_url=mirror)
    assert {d.status for d in done} == {"downloaded"}
    assert sorted(d.file.path for d in done) == sorted(f.path for f in sources.DATA_FILES)
    for s in get_scenarios():
        if isinstance(s, MixedStream):
            continue
        assert s.split(to, 3, 0) == s.split(SAMPLE_DIR, 3, 0), s.name


def test_present_files_are_kept_unless_forced(mirror, tmp_path) -> None:
    urls: list[str] = []

    def fetch(url: str) -> bytes:
        urls.append(url)
        return dl.fetch_url(url)

    files = sources.files_for(["sst2"])
    dl.download(files, tmp_path / "d", base_url=mirror, fetch=fetch)
    assert len(urls) == 2
    again = dl.download(files, tmp_path / "d", base_url=mirror, fetch=fetch)
    assert [d.status for d in again] == ["present", "present"] and len(urls) == 2
    dl.download(files, tmp_path / "d", base_url=mirror, fetch=fetch, force=True)
    assert len(urls) == 4


def test_wrong_bytes_are_refused_and_not_written(mirror, tmp_path) -> None:
    (f,) = sources.files_for(["gsm8k"])
    with pytest.raises(dl.DownloadError, match=r"arithmetic/gsm8k_test\.jsonl.*SHA-256"):
        dl.download([f], tmp_path / "d", base_url=mirror, fetch=lambda _: b"tampered\n")
    assert not (tmp_path / "d" / f.path).exists()


def test_default_urls_are_the_pinned_published_files() -> None:
    (f,) = sources.files_for(["gsm8k"])
    assert f.download_url() == (
        "https://raw.githubusercontent.com/openai/grade-school-math/"
        "3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data/test.jsonl"
    )
    (squad,) = sources.files_for(["squad"])
    assert squad.download_url() == sources.SQUAD_DEV_URL
    assert len({f.path for f in sources.files_for(["mixed"])}) == len(sources.DATA_FILES)


def test_bad_urls_and_bad_squad_files_fail_clearly(tmp_path) -> None:
    with pytest.raises(dl.DownloadError, match="unsupported URL"):
        dl.fetch_url("ftp://example.org/x")
    with pytest.raises(dl.DownloadError, match="cannot fetch"):
        dl.fetch_url((tmp_path / "absent.json").as_uri())
    with pytest.raises(dl.DownloadError, match="not an official SQuAD"):
        dl.convert_squad_v1(b'{"data": [{"paragraphs": []}]}')
    with pytest.raises(dl.DownloadError, match=r"not an official SQuAD.*'id'"):
        dl.convert_squad_v1(b'{"data": [{"paragraphs": [{"context": "c", "qas": [{}]}]}]}')
