"""Where each benchmark data file comes from: repository, commit, path, license.

One :class:`DataFile` per file a scenario reads (the rows of ``shared/data/SOURCES.md``
the benchmark uses). ``green-chain data`` lists them, ``green-chain data download``
fetches them from their published URLs, and the embedded sample's ``SOURCES.md`` is
written from them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Published raw files of a GitHub repository at a commit: ``{base}/{repo}/{commit}/{path}``.
GITHUB_RAW = "https://raw.githubusercontent.com"
#: The official SQuAD v1.1 dev file (the sample's records are rebuilt from it, see ``convert``).
SQUAD_DEV_URL = "https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json"


@dataclass(frozen=True)
class DataFile:
    """One data file the benchmark reads.

    Attributes:
        path: Path under the data folder (``qa/squad_v1.1_dev.jsonl``).
        scenarios: Scenarios that read it.
        repo: Source GitHub repository (``owner/name``).
        commit: Source commit.
        source_path: Path of the file in that repository at that commit.
        license: The source's license (repository / data).
        sha256: SHA-256 of the file the benchmark was built on (``None``: not checked,
            the file is rebuilt rather than copied).
        url: Where to download it (``None``: ``{GITHUB_RAW}/{repo}/{commit}/{source_path}``).
        convert: Name of the conversion from the downloaded bytes (``None``: stored as is).
    """

    path: str
    scenarios: tuple[str, ...]
    repo: str
    commit: str
    source_path: str
    license: str
    sha256: str | None = None
    url: str | None = None
    convert: str | None = None

    def __post_init__(self) -> None:
        if self.sha256 is None and self.convert is None and self.path in _SHA256:
            object.__setattr__(self, "sha256", _SHA256[self.path])

    def download_url(self, base: str = GITHUB_RAW) -> str:
        """The URL to fetch; ``base`` replaces the GitHub raw host (mirrors, ``file://`` tests)."""
        if self.url is not None and base == GITHUB_RAW:
            return self.url
        return f"{base.rstrip('/')}/{self.repo}/{self.commit}/{self.source_path}"


_FEWSHOT = ("tonyzhaozh/few-shot-learning", "e04d8643be91c2cce63f33e07760ff75d5aa3ad0")
_GORILLA = ("ShishirPatil/gorilla", "6ea57973c7a6097fd7c5915698c54c17c5b1b6c8")
_BFCL = "berkeley-function-call-leaderboard/bfcl_eval/data"

#: SHA-256 of each file the benchmark was built on (``shared/data``), by path.
_SHA256: dict[str, str] = {
    "qa/nq-open-oracle.jsonl.gz": "6a7f72b846f663a133ef952244e5a4e43f06bcf190afe34e8fbe687ce0d1653e",
    "qa/hotpotqa_dev_distractor_sample100.json": "fe8f91b59c818792e404e0d4d110c5eb28d8b7de04bbf37694bdafa2d5025163",
    "long_docs/qmsum_test.jsonl": "6bcd428211260ad2efae3af76cbaf6a7f5ae4bb5e1e59c45a4b8e89539cb9208",
    "classification/sst2_stsa.binary.train": "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
    "classification/sst2_stsa.binary.test": "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
    "classification/agnews_test.csv": "1b1b6c5f1dd034c83fec3f585611d2bc65c34fafd86685fc92cee5e6059313ef",
    "classification/agnews_classes.txt": "1a5783c08f1468ec5200f5b67ef041a2f72a7fe4645aa121769aaf481593663f",
    "classification/trec_train.txt": "202e3e1ad6143ed4f147f199324277e25b2573a78c08c3af1ff840b49c0779de",
    "classification/trec_test.txt": "69b2d406aa15b3b514b6bf9b3bf1fa2c3515ce7ae744651173f8e57347bfb2a9",
    "arithmetic/gsm8k_test.jsonl": "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
    "tool_calling/BFCL_v4_multiple.json": "aef168155ebd74b7ac2401198b201343bc7d16d7a3d7e0d4e6d8ee82c6969b2a",
    "tool_calling/BFCL_v4_multiple.possible_answer.json": "244e00ce9395df948bcafc7bee64e8f9c87ef70887587d83cae45b13699f3047",
    "dialogue/mtbench101.jsonl": "1a1e433acf7e2ef013b5001b60fd8e48bc3e4202460727e25b2ea8575aae7d80",
    "dialogue/sgd_test_dialogues_001.json": "1fa13b0fe607100bc66ed15e0490df9c52a2cec087ca9733e0f506755eef0ada",
}

#: Every file the benchmark scenarios read, in scenario order.
DATA_FILES: tuple[DataFile, ...] = (
    DataFile(
        "qa/squad_v1.1_dev.jsonl",
        ("squad",),
        "rajpurkar/SQuAD-explorer",
        "e0c66cfec263165fb3c15cb76a22175e371b71d7",
        "dataset/dev-v1.1.json",
        "repo MIT / SQuAD CC BY-SA 4.0",
        url=SQUAD_DEV_URL,
        convert="squad_v1",
    ),
    DataFile(
        "qa/nq-open-oracle.jsonl.gz",
        ("nq",),
        "nelson-liu/lost-in-the-middle",
        "29b8a6d042ce29abccee3db1a73171a107d7e6af",
        "qa_data/nq-open-oracle.jsonl.gz",
        "MIT / derived from NQ (CC BY-SA 3.0) + Wikipedia",
    ),
    DataFile(
        "qa/hotpotqa_dev_distractor_sample100.json",
        ("hotpotqa",),
        "nyu-mll/quality",
        "f84977c40dbfef70c9cab48037b7becfc8e45f73",
        "docs/js/camera_ready_nd8_dev_sample100.json",
        "no LICENSE file in repo / HotpotQA CC BY-SA 4.0",
    ),
    DataFile(
        "long_docs/qmsum_test.jsonl",
        ("qmsum",),
        "Yale-LILY/QMSum",
        "83d7768c1f2b4dfeb091385d3dc7e239b8e5bb7e",
        "data/ALL/jsonl/test.jsonl",
        "MIT (AMI/ICSI corpora CC BY 4.0; committee transcripts public record)",
    ),
    DataFile(
        "classification/sst2_stsa.binary.train",
        ("sst2",),
        *_FEWSHOT,
        "data/sst2/stsa.binary.train",
        "repo Apache-2.0 / SST research data",
    ),
    DataFile(
        "classification/sst2_stsa.binary.test",
        ("sst2",),
        *_FEWSHOT,
        "data/sst2/stsa.binary.test",
        "repo Apache-2.0 / SST research data",
    ),
    DataFile(
        "classification/agnews_test.csv",
        ("agnews",),
        *_FEWSHOT,
        "data/agnews/test.csv",
        "repo Apache-2.0 / AG News academic use",
    ),
    DataFile(
        "classification/agnews_classes.txt",
        ("agnews",),
        *_FEWSHOT,
        "data/agnews/classes.txt",
        "repo Apache-2.0 / AG News academic use",
    ),
    DataFile(
        "classification/trec_train.txt",
        ("trec",),
        *_FEWSHOT,
        "data/trec/train.txt",
        "repo Apache-2.0 / TREC QC (public)",
    ),
    DataFile(
        "classification/trec_test.txt",
        ("trec",),
        *_FEWSHOT,
        "data/trec/test.txt",
        "repo Apache-2.0 / TREC QC (public)",
    ),
    DataFile(
        "arithmetic/gsm8k_test.jsonl",
        ("gsm8k",),
        "openai/grade-school-math",
        "3101c7d5072418e28b9008a6636bde82a006892c",
        "grade_school_math/data/test.jsonl",
        "MIT",
    ),
    DataFile(
        "tool_calling/BFCL_v4_multiple.json",
        ("bfcl",),
        *_GORILLA,
        f"{_BFCL}/BFCL_v4_multiple.json",
        "Apache-2.0",
    ),
    DataFile(
        "tool_calling/BFCL_v4_multiple.possible_answer.json",
        ("bfcl",),
        *_GORILLA,
        f"{_BFCL}/possible_answer/BFCL_v4_multiple.json",
        "Apache-2.0",
    ),
    DataFile(
        "dialogue/mtbench101.jsonl",
        ("mtbench101",),
        "mtbench101/mt-bench-101",
        "bc18b3e2c18c99164e11528f1a79c92083db5953",
        "data/subjective/mtbench101.jsonl",
        "Apache-2.0",
    ),
    DataFile(
        "dialogue/sgd_test_dialogues_001.json",
        ("sgd",),
        "google-research-datasets/dstc8-schema-guided-dialogue",
        "e852981ae34990f4358979625854259302feaa78",
        "test/dialogues_001.json",
        "CC BY-SA 4.0",
    ),
)


def files_for(scenarios: tuple[str, ...] | list[str] | None = None) -> list[DataFile]:
    """The data files of ``scenarios`` (all when empty; ``mixed`` reads every file)."""
    if not scenarios or "mixed" in scenarios:
        return list(DATA_FILES)
    wanted = set(scenarios)
    return [f for f in DATA_FILES if wanted & set(f.scenarios)]
