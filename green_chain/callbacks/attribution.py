"""Concurrency attribution of device-wide energy to the innermost open runs.

Meters are device-wide: two runs open at the same time see the same joules. The
:class:`AttributionLedger` splits them fairly and conserves them:

* at every event (a run starting or ending) the handler takes **one** meter
  reading and calls :meth:`AttributionLedger.advance`; the energy of each domain
  between the previous reading and this one is split equally among the
  *innermost* open runs (open runs with no open child) during that interval;
* a run's *exclusive attributed* energy is the sum of its shares; its inclusive
  attributed energy (computed by the handler) is its own plus its descendants';
* a run's *exclusive* (unsplit) energy is the device energy of the intervals in
  which it was innermost, not divided among concurrent runs.

**Streaming: a consumer does not take its producer's energy.** A ``RunnableSequence``
tags each step's run ``seq:step:N``. Its steps never run at the same time: when it
is streamed (``stream``/``astream``), a later step (a parser, a transform) opens on
the first chunk of an earlier one and then only pulls that step's chunks. So a
sequence step is *waiting* while an earlier step of the same sequence is open, and
so is everything inside a waiting run; a waiting run is never innermost. The
producer (and what runs inside it) takes the whole interval, the consumer its time
after the producer ended. A consumer's per-chunk work happens inside the
producer's window (callback events do not say when control passes between the
generators) and is charged to the producer. ``invoke`` never overlaps two steps, so
nothing waits there. Energy stays conserved: whenever a run is open, the earliest
open step at every level leads down to an innermost run that is not waiting.

Because every interval's energy is divided among exactly the runs that were
innermost in it, the exclusive attributed energy of all runs sums to the device
energy over the union of their windows. A root that no other root overlapped
has a tree sum equal to its own measured window energy, and a run that never
overlapped anything has attributed == measured.

Readings are taken outside the handler's lock, so two events on different
threads may hand the ledger their readings out of order. A reading older
(``Reading.seq``) than the last one the ledger used is not applied: its event is
placed at the instant of that newer reading (an interval of zero length), so the
intervals still tile time and the energy is still conserved.

Cost per event is O(number of domains): instead of adding a share to every
innermost run at every event, the ledger keeps one running "energy per innermost
run" accumulator per domain; a run snapshots it when it becomes innermost and
banks the difference when it stops being innermost.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import Any, cast

from green_chain.energy.measurement import Reading

#: Shared read-only placeholder for a node's snapshots before it first becomes innermost.
_EMPTY = cast(dict[Any, Any], MappingProxyType({}))
#: Tag prefix LangChain's ``RunnableSequence`` gives each step's run (``seq:step:1``, ...).
SEQ_STEP_TAG = "seq:step:"


def sequence_step(tags: Iterable[str] | None) -> int | None:
    """The step number of a run inside a ``RunnableSequence`` (its ``seq:step:N`` tag), or None."""
    for tag in tags or ():
        if isinstance(tag, str) and tag.startswith(SEQ_STEP_TAG):
            number = tag[len(SEQ_STEP_TAG) :]
            if number.isdigit():
                return int(number)
    return None


class LedgerNode:
    """Attribution state of one run.

    Args:
        step: The run's step number in its parent ``RunnableSequence`` (``None`` if
            it is not a sequence step); see the module docstring on streaming.

    Attributes:
        open_children: Number of this run's children currently open.
        is_open: False once the run ended.
        waiting: True while an earlier step of its sequence (or of an enclosing
            sequence) is open: a stream consumer, never innermost.
        attributed_j: Exclusive attributed energy per domain in joules (shares).
        exclusive_j: Device energy per domain in joules over the intervals in
            which this run was innermost (not split).
        failed_domains: Domains whose energy could not be read in at least one
            interval in which this run was innermost (attribution incomplete).
    """

    __slots__ = (
        "_since_fail",
        "_since_gross",
        "_since_share",
        "attributed_j",
        "exclusive_j",
        "failed_domains",
        "is_open",
        "kids",
        "open_children",
        "parent",
        "step",
        "waiting",
    )

    def __init__(self, step: int | None = None) -> None:  # a plain class: one per run
        self.open_children = 0
        self.is_open = True
        self.step = step
        self.waiting = False
        self.parent: LedgerNode | None = None
        self.kids: dict[LedgerNode, None] | None = None  # open children, for waiting
        self.attributed_j: dict[str, float] = {}
        self.exclusive_j: dict[str, float] = {}
        self.failed_domains: set[str] = set()
        self._since_share: dict[str, float] = _EMPTY
        self._since_gross: dict[str, float] = _EMPTY
        self._since_fail: dict[str, int] = _EMPTY


class AttributionLedger:
    """Running accumulators of attributed energy; not thread-safe (the handler locks).

    Attributes:
        union_j: Device energy per domain in joules over the union of all run
            windows seen so far (every interval with at least one open run).
        unreadable_intervals: Per domain, how many intervals could not be read.
    """

    def __init__(self) -> None:
        self._share: dict[str, float] = {}
        self.union_j: dict[str, float] = {}
        self.unreadable_intervals: dict[str, int] = {}
        self._innermost = 0
        self._last: Reading | None = None
        self._domains: tuple[str, ...] = ()

    @property
    def innermost_count(self) -> int:
        """Number of innermost open runs right now (waiting stream consumers excluded)."""
        return self._innermost

    def advance(self, reading: Reading | None, domains: tuple[str, ...] | None = None) -> None:
        """Account the energy since the previous reading; ``None`` = the meter read failed.

        Args:
            reading: This event's reading, or ``None`` when it could not be taken.
            domains: Domain names to mark unreadable when a reading is missing
                (defaults to the domains of the last good reading).
        """
        prev = self._last
        if reading is not None and prev is not None and 0 < reading.seq < prev.seq:
            return  # stale (read before the last applied reading): zero-length interval
        self._last = reading
        if reading is not None:
            self._domains = tuple(reading.info)
        if self._innermost == 0:
            return  # energy outside every window belongs to no run
        if prev is None or reading is None:
            for d in domains or self._domains:
                self.unreadable_intervals[d] = self.unreadable_intervals.get(d, 0) + 1
            return
        n = self._innermost
        a_domains = prev.domains
        for d, b in reading.domains.items():
            a = a_domains.get(d)
            if (
                a is None
                or a.energy_j is None
                or b.energy_j is None
                or b.energy_j < a.energy_j
                or a.epoch != b.epoch
            ):
                self.unreadable_intervals[d] = self.unreadable_intervals.get(d, 0) + 1
                continue
            delta = b.energy_j - a.energy_j
            self._share[d] = self._share.get(d, 0.0) + delta / n
            self.union_j[d] = self.union_j.get(d, 0.0) + delta
        for d in a_domains.keys() - reading.domains.keys():
            self.unreadable_intervals[d] = self.unreadable_intervals.get(d, 0) + 1

    def open(self, node: LedgerNode, parent: LedgerNode | None) -> None:
        """Register ``node`` as open; ``parent`` is its open parent, if any."""
        if parent is not None and parent.is_open:
            if parent.open_children == 0 and not parent.waiting:
                self._leave(parent)
            parent.open_children += 1
            node.parent = parent
            if parent.kids is None:
                parent.kids = {}
            parent.kids[node] = None
            node.waiting = _should_wait(node)
        if not node.waiting:
            self._enter(node)
        if node.step is not None and parent is not None and parent.kids:
            self._update_waiting(
                k for k in parent.kids if k.step is not None and k.step > node.step
            )

    def close(self, node: LedgerNode, parent: LedgerNode | None) -> None:
        """Register ``node`` as ended; ``parent`` is its parent, if known."""
        if not node.is_open:
            return
        if node.open_children == 0 and not node.waiting:
            self._leave(node)
        node.is_open = False
        if node.kids:  # children outliving their parent: no longer wait through it
            self._update_waiting(list(node.kids))
        owner = node.parent
        if owner is not None and owner.kids is not None:
            owner.kids.pop(node, None)
            if node.step is not None:
                self._update_waiting(
                    k for k in owner.kids if k.step is not None and k.step > node.step
                )
        if parent is not None and parent.is_open:
            parent.open_children -= 1
            if parent.open_children == 0 and not parent.waiting:
                self._enter(parent)

    def _update_waiting(self, nodes: Iterable[LedgerNode]) -> None:
        """Recompute ``waiting`` of ``nodes`` and, where it changed, of their open descendants."""
        stack = list(nodes)
        while stack:
            node = stack.pop()
            waiting = _should_wait(node)
            if waiting == node.waiting or not node.is_open:
                continue
            if node.open_children == 0:
                if waiting:
                    self._leave(node)
                else:
                    self._enter(node)
            node.waiting = waiting
            if node.kids:
                stack.extend(node.kids)

    def _enter(self, node: LedgerNode) -> None:
        node._since_share = dict(self._share)
        node._since_gross = dict(self.union_j)
        node._since_fail = dict(self.unreadable_intervals)
        self._innermost += 1

    def _leave(self, node: LedgerNode) -> None:
        self._innermost -= 1
        since_share, since_gross = node._since_share, node._since_gross
        for d, value in self._share.items():
            node.attributed_j[d] = node.attributed_j.get(d, 0.0) + value - since_share.get(d, 0.0)
        for d, value in self.union_j.items():
            node.exclusive_j[d] = node.exclusive_j.get(d, 0.0) + value - since_gross.get(d, 0.0)
        since_fail = node._since_fail
        for d, count in self.unreadable_intervals.items():
            if count != since_fail.get(d, 0):
                node.failed_domains.add(d)


def _should_wait(node: LedgerNode) -> bool:
    """Whether ``node`` waits: its open parent waits, or an earlier step of its sequence is open."""
    parent = node.parent
    if parent is None:
        return False
    if parent.is_open and parent.waiting:
        return True
    step = node.step
    if step is None or not parent.kids:
        return False
    return any(k.step is not None and k.step < step for k in parent.kids)
