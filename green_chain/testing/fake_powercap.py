"""Build a fake ``/sys/class/powercap`` tree in a temporary folder.

The layout follows Linux's powercap sysfs: every zone is a folder named
``intel-rapl:<pkg>`` (subzones ``intel-rapl:<pkg>:<sub>``; AMD ``amd-rapl:...``)
with ``name``, ``energy_uj`` and ``max_energy_range_uj`` files::

    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0")                       # intel-rapl:0
    dram = tree.add_zone("dram", parent=pkg)               # intel-rapl:0:0
    backend = tree.backend()                               # RAPLBackend over it
    pkg.add_energy_j(12.5)                                 # wraps at max_energy_range_uj

Permission denied cannot be produced with ``chmod`` when the tests run as root,
so :meth:`FakeZone.deny` both removes the read bits and makes
:meth:`FakePowercapTree.read_text` (the reader :meth:`FakePowercapTree.backend`
passes to the backend) raise :class:`PermissionError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from green_chain.energy.backends.rapl import RAPLBackend

#: A typical package counter range (Intel client parts): about 262 kJ.
DEFAULT_MAX_ENERGY_RANGE_UJ = 262_143_328_850


class FakeZone:
    """One powercap zone folder; energies in microjoules on disk."""

    def __init__(self, tree: FakePowercapTree, path: Path, max_energy_range_uj: int) -> None:
        self.tree = tree
        self.path = path
        self.max_energy_range_uj = max_energy_range_uj

    @property
    def energy_file(self) -> Path:
        return self.path / "energy_uj"

    @property
    def energy_uj(self) -> int:
        return int(self.energy_file.read_text())

    def set_energy_uj(self, value: int) -> None:
        """Write the raw counter value (``0 <= value < max_energy_range_uj``)."""
        if not 0 <= value <= self.max_energy_range_uj:
            raise ValueError(f"energy_uj {value} outside [0, {self.max_energy_range_uj}]")
        self.energy_file.write_text(f"{int(value)}\n")

    def add_energy_j(self, joules: float) -> None:
        """Advance the counter by ``joules``, wrapping modulo ``max_energy_range_uj``."""
        self.add_energy_uj(round(joules * 1e6))

    def add_energy_uj(self, microjoules: int) -> None:
        """Advance the counter by ``microjoules``, wrapping modulo ``max_energy_range_uj``."""
        self.set_energy_uj((self.energy_uj + int(microjoules)) % self.max_energy_range_uj)

    def deny(self) -> None:
        """Make ``energy_uj`` unreadable (as on Linux >= 5.10 for non-root users)."""
        os.chmod(self.energy_file, 0o200)
        self.tree.denied.add(self.energy_file)

    def allow(self) -> None:
        os.chmod(self.energy_file, 0o644)
        self.tree.denied.discard(self.energy_file)


class FakePowercapTree:
    """A powercap tree under ``base/powercap`` (``base`` is usually pytest's ``tmp_path``)."""

    def __init__(self, base: str | os.PathLike[str]) -> None:
        self.root = Path(base) / "powercap"
        self.root.mkdir(parents=True, exist_ok=True)
        self.denied: set[Path] = set()
        self._children: dict[str, int] = {}

    def add_zone(
        self,
        name: str,
        *,
        parent: FakeZone | None = None,
        vendor: str = "intel",
        energy_uj: int = 0,
        max_energy_range_uj: int = DEFAULT_MAX_ENERGY_RANGE_UJ,
        max_power_uw: int | None = None,
    ) -> FakeZone:
        """Create a zone (``name`` as in sysfs: ``package-0``, ``dram``, ``core``, ``uncore``).

        ``max_power_uw`` writes ``constraint_0_max_power_uw`` (the zone's maximum
        power, which sets the backend's sampling interval).

        A top-level zone becomes ``<vendor>-rapl:<n>``; a subzone
        ``<parent>:<m>``. Like sysfs, every zone is also reachable directly
        under the root (a symlink for subzones).
        """
        if parent is None:
            prefix = f"{vendor}-rapl"
            n = self._children.get(prefix, 0)
            self._children[prefix] = n + 1
            zone_name = f"{prefix}:{n}"
            path = self.root / zone_name
        else:
            n = self._children.get(parent.path.name, 0)
            self._children[parent.path.name] = n + 1
            zone_name = f"{parent.path.name}:{n}"
            path = parent.path / zone_name
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        (path / "max_energy_range_uj").write_text(f"{max_energy_range_uj}\n")
        if max_power_uw is not None:
            (path / "constraint_0_max_power_uw").write_text(f"{max_power_uw}\n")
        zone = FakeZone(self, path, max_energy_range_uj)
        zone.set_energy_uj(energy_uj)
        if parent is not None:
            (self.root / zone_name).symlink_to(path, target_is_directory=True)
        return zone

    def read_text(self, path: Path) -> str:
        """File reader that honours :meth:`FakeZone.deny` even for root."""
        if Path(path) in self.denied:
            raise PermissionError(13, "Permission denied", str(path))
        return Path(path).read_text()

    def backend(self, **kwargs: object) -> RAPLBackend:
        """A :class:`~green_chain.energy.backends.rapl.RAPLBackend` over this tree.

        The background sampler is off unless ``start_sampler=True``: tests read.
        """
        from green_chain.energy.backends.rapl import RAPLBackend

        kwargs.setdefault("start_sampler", False)
        return RAPLBackend(self.root, read_text=self.read_text, **kwargs)  # type: ignore[arg-type]
