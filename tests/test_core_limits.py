"""Limits of the native core through its bindings: the reproducers of issue 10 that were core bugs.

Each test fails on the core before the fix (a process killed by an unbounded allocation, a
PanicException out of ``from_bytes``, an id issued twice, a push that stalls for seconds, a hash
that puts some token ids in one bucket) and passes after it. Saved blobs are written by hand here
with the documented layout (``rust/codec.rs``, ``rust/log.rs``) and a recomputed CRC-32, so the
decoder sees exactly the semantic fault under test.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Callable

import pytest
from specscale import NgramTrie, Store, SuffixAutomaton
from specscale.errors import CorruptDataError, InvalidArgumentError, SpecscaleError

AUTOMATON, TRIE, STORE = 1, 2, 3
ID_LIMIT = 2**56


# ---------------------------------------------------------------------------------------------
# Hand-made blobs


def header(kind: int) -> bytes:
    return b"SPSC" + struct.pack("<HBB", 1, kind, 0)


def seal(payload: bytes) -> bytes:
    return payload + struct.pack("<I", zlib.crc32(payload))


def log(next_id: int, seqs: list[tuple[int, list[int]]], open_: bool = False) -> bytes:
    out = struct.pack("<QBQ", next_id, int(open_), len(seqs))
    out += b"".join(struct.pack("<QQ", i, len(s)) for i, s in seqs)
    return out + b"".join(struct.pack("<I", t) for _, s in seqs for t in s)


def automaton_body(log_bytes: bytes, counts: bool = False, capacity: tuple[int, int] = (0, 0)) -> bytes:
    return struct.pack("<BQQ", int(counts), *capacity) + log_bytes


def trie_body(log_bytes: bytes, order: int = 2, capacity: int = 0) -> bytes:
    return struct.pack("<IQ", order, capacity) + log_bytes


EMPTY_SCOPE = struct.pack("<QQ", 0, 0) + automaton_body(log(0, [])) + trie_body(log(0, []))


def store_blob(request: bytes = EMPTY_SCOPE, family: bytes = EMPTY_SCOPE, global_: bytes = EMPTY_SCOPE) -> bytes:
    return seal(header(STORE) + request + family + global_)


def scope(automaton: bytes, trie: bytes, capacity: tuple[int, int] = (0, 0)) -> bytes:
    return struct.pack("<QQ", *capacity) + automaton + trie


def test_hand_made_blobs_match_the_format() -> None:
    # The builders above write what the structures write, so the faults below are the only faults.
    sam = SuffixAutomaton()
    sam.begin_sequence()
    sam.extend([1, 2, 3])
    assert sam.to_bytes() == seal(header(AUTOMATON) + automaton_body(log(1, [(0, [1, 2, 3])], open_=True)))
    store = Store(max_order=2)
    store.begin_sequence("family")
    store.extend([4, 5], "family")
    store.close_sequence("family")
    fam_log = log(1, [(0, [4, 5])])
    assert store.to_bytes() == store_blob(family=scope(automaton_body(fam_log), trie_body(fam_log)))


# ---------------------------------------------------------------------------------------------
# Unbounded allocations: run in a child with a capped address space, so a regression fails the test
# instead of taking the machine's memory.


def run_capped(code: str, limit_bytes: int = 3 << 30, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    prelude = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({limit_bytes}, {limit_bytes}))\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_tree_sizes_are_capped_on_cyclic_data() -> None:
    # Both calls grew until memory ran out: every context of cyclic text continues.
    result = run_capped(
        """
        from specscale import NgramTrie, Store
        from specscale.errors import InvalidArgumentError
        t = NgramTrie(max_order=2)
        t.extend([1, 2, 3] * 5)
        try:
            t.top_continuations([1], k=3, depth=10**12, budget=10**12)
        except InvalidArgumentError as e:
            print("trie:", e)
        s = Store(counts=True)
        s.extend([1, 2, 3] * 5)
        c = s.cursor()
        c.extend([1, 2])
        for call in (lambda: c.draft_tree(k=3, depth=10**12, budget=10**12),
                     lambda: c.frequency_tree(k=3, depth=10**12, budget=10**12)):
            try:
                call()
            except InvalidArgumentError as e:
                print("store:", e)
        # The largest allowed tree is built, and stops at its budget.
        print("nodes:", len(t.top_continuations([1], k=3, depth=65536, budget=65536)))
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("trie: depth must be between 0 and 65536, got 1000000000000"), lines
    assert all(line.startswith("store: depth must be between 0 and 65536") for line in lines[1:3]), lines
    assert lines[3] == "nodes: 65536"


def test_budget_above_the_limit_names_the_argument() -> None:
    trie = NgramTrie(max_order=2)
    trie.extend([1, 2, 3] * 5)
    with pytest.raises(InvalidArgumentError, match="budget must be between 0 and 65536, got 65537"):
        trie.top_continuations([1], budget=65537)
    with pytest.raises(InvalidArgumentError, match="depth must be between 0 and 65536, got 65537"):
        trie.top_continuations([1], depth=65537)
    # A chain holds at most what is stored, so its length needs no limit.
    sam = SuffixAutomaton()
    sam.extend([1, 2, 3, 1, 2, 3])
    cur = sam.cursor()
    cur.extend([1])
    assert cur.draft(10**12, policy="earliest").tokens == [2, 3, 1, 2, 3]
    assert sam.draft([1], max_tokens=10**12).tokens == [2, 3]


# ---------------------------------------------------------------------------------------------
# from_bytes: every semantic invariant checked before building


Loader = Callable[[bytes], object]
LOADERS: dict[int, Loader] = {AUTOMATON: SuffixAutomaton.from_bytes, TRIE: NgramTrie.from_bytes}


def corrupt(load: Loader, blob: bytes, match: str) -> None:
    with pytest.raises(CorruptDataError, match=match):
        load(blob)


def test_sequence_lengths_that_overflow_the_running_total_are_corrupt() -> None:
    # Used to raise PanicException ("range end index 10 out of range for slice of length 2"), which
    # `except Exception` misses.
    # 2 tokens, then 2**64 - 1 more: a running total kept in u64 wrapped around to 1.
    raw = struct.pack("<QBQ", 2, 0, 2) + struct.pack("<QQQQ", 0, 2, 1, 2**64 - 1) + struct.pack("<I", 1)
    corrupt(SuffixAutomaton.from_bytes, seal(header(AUTOMATON) + automaton_body(raw)), "more than a structure holds")
    corrupt(NgramTrie.from_bytes, seal(header(TRIE) + trie_body(raw)), "more than a structure holds")


@pytest.mark.parametrize("kind", [AUTOMATON, TRIE])
def test_ids_must_increase_and_stay_below_next_id(kind: int) -> None:
    body = automaton_body if kind == AUTOMATON else trie_body
    load = LOADERS[kind]
    corrupt(load, seal(header(kind) + body(log(5, [(3, [1]), (3, [2])]))), "not above the previous id 3")
    corrupt(load, seal(header(kind) + body(log(3, [(3, [1])]))), "not below the next id 3")
    corrupt(load, seal(header(kind) + body(log(2**64 - 1, [(0, [1])]))), "above the id limit 2\\*\\*56")
    corrupt(load, seal(header(kind) + body(log(0, [], open_=True))), "open flag set with no sequence")


def test_the_last_id_is_never_issued_twice() -> None:
    # Loaded next_id = 2**64 - 1 made begin_sequence() return the same id twice, and
    # remove_sequence(a) removed the other sequence.
    sam = SuffixAutomaton.from_bytes(seal(header(AUTOMATON) + automaton_body(log(ID_LIMIT - 1, [(7, [1, 2])]))))
    a = sam.begin_sequence()
    assert a == ID_LIMIT - 1
    with pytest.raises(InvalidArgumentError, match="every sequence id below 2\\*\\*56 has been issued"):
        sam.begin_sequence()
    sam.extend([3, 4])
    sam.remove_sequence(a)
    assert sam.sequence_ids() == [7] and sam.sequence(7) == [1, 2]


def test_a_store_scope_whose_structures_disagree_is_corrupt() -> None:
    # The request automaton and trie held the same tokens under different ids: the blob loaded,
    # set_capacity("request", tokens=4) panicked ("scope structures hold the same sequences") with
    # the automaton evicted and the trie not, and the store's own to_bytes() was then refused.
    automaton = automaton_body(log(3, [(0, [1, 2]), (2, [3])]))
    trie = trie_body(log(3, [(1, [1, 2]), (2, [3])]))
    corrupt(Store.from_bytes, store_blob(request=scope(automaton, trie)), "request scope's automaton and trie hold different sequences")
    other_tokens = trie_body(log(3, [(0, [1, 9]), (2, [3])]))
    corrupt(Store.from_bytes, store_blob(family=scope(automaton, other_tokens)), "family scope's automaton and trie hold different tokens")
    other_next = trie_body(log(4, [(0, [1, 2]), (2, [3])]))
    corrupt(Store.from_bytes, store_blob(global_=scope(automaton, other_next)), "global scope's automaton and trie disagree on the next id")


def test_request_ids_never_carry_another_scope_byte() -> None:
    # A request-scope local id >= 2**56 carried the family's scope byte: removing it deleted a family
    # sequence.
    big = log(ID_LIMIT + 1, [(ID_LIMIT, [1])])
    corrupt(Store.from_bytes, store_blob(request=scope(automaton_body(big), trie_body(big))), "id limit")
    store = Store()
    r = store.begin_sequence("request")
    f = store.begin_sequence("family")
    store.extend([1, 2], "family")
    store.remove_sequence(r)
    assert store.sequence(f) == [1, 2]


def test_one_capacity_rule_for_a_scope() -> None:
    # An inner automaton's capacity was enforced while the trie's was not.
    seqs = log(1, [(0, [1, 2, 3])])
    corrupt(
        Store.from_bytes,
        store_blob(request=scope(automaton_body(seqs, capacity=(2, 0)), trie_body(seqs))),
        "capacity of its own",
    )
    corrupt(
        Store.from_bytes,
        store_blob(request=scope(automaton_body(seqs), trie_body(seqs), capacity=(2, 0))),
        "more than its token capacity 2",
    )
    corrupt(
        Store.from_bytes,
        store_blob(global_=scope(automaton_body(log(0, []), counts=True), trie_body(log(0, [])))),
        "counts",
    )
    # An honest store under a capacity evicts from both structures in step and saves what it loads.
    store = Store(max_order=2)
    store.set_capacity("request", tokens=4)
    for i in range(6):
        store.begin_sequence("request")
        store.extend([i, i + 1], "request")
    assert store.num_tokens("request") <= 4
    assert Store.from_bytes(store.to_bytes()).to_bytes() == store.to_bytes()


def test_honest_blobs_still_load() -> None:
    trie = NgramTrie(max_order=32)
    trie.extend(list(range(2000)))
    assert NgramTrie.from_bytes(trie.to_bytes()).to_bytes() == trie.to_bytes()
    corrupt(NgramTrie.from_bytes, seal(header(TRIE) + trie_body(log(0, []), order=33)), "between 1 and 32, got 33")
    corrupt(SuffixAutomaton.from_bytes, seal(header(AUTOMATON)[:7] + b"\x01" + automaton_body(log(0, []))), "reserved")


# ---------------------------------------------------------------------------------------------
# Capacity: cost and memory


def test_a_push_that_evicts_many_small_sequences_does_not_stall() -> None:
    # One push that evicted 7,812 small sequences stalled 6.8 s: the trie compacted its whole log
    # once per evicted sequence. Now one eviction costs about one rebuild of what stays. Here the
    # evicting push drops 7,812 sequences of 16 tokens.
    tokens, seq = 500_000, 16
    seqs = [[(i * 7 + j) % 5000 for j in range(seq)] for i in range(tokens // seq)]
    start = time.perf_counter()
    plain = Store()
    for s in seqs:
        plain.begin_sequence("global")
        plain.extend(s, "global")
    build = time.perf_counter() - start
    store = Store()
    store.set_capacity("global", tokens=tokens - seq)
    slowest = 0.0
    for s in seqs:
        store.begin_sequence("global")
        start = time.perf_counter()
        store.extend(s, "global")
        slowest = max(slowest, time.perf_counter() - start)
    assert store.num_tokens("global") <= tokens - seq
    assert slowest < 2 * build + 0.05, f"the evicting push took {slowest:.2f} s, building everything {build:.2f} s"


def test_an_open_sequence_over_capacity_keeps_its_most_recent_window() -> None:
    # It was never evicted: memory grew without bound and push cost climbed with it.
    seq = [i % 3000 for i in range(50_000)]
    sam = SuffixAutomaton(capacity_tokens=2_000)
    trie = NgramTrie(max_order=3, capacity_tokens=2_000)
    store = Store()
    store.set_capacity("global", tokens=2_000)
    sam.begin_sequence()
    sam.extend(seq)
    trie.extend(seq)
    store.extend(seq, "global")
    for kept in (sam.sequence(sam.sequence_ids()[0]), store.sequence(store.sequence_ids("global")[0])):
        assert 0 < len(kept) <= 2_000 and kept == seq[len(seq) - len(kept) :]
    assert trie.num_tokens <= 2_000 and trie.count([seq[-3], seq[-2]], seq[-1]) >= 1
    assert sam.memory_bytes() < 400_000
    cur = sam.cursor()
    cur.extend(seq[-1000:-8])
    assert cur.draft(8).tokens == seq[-8:]


def test_token_ids_sharing_their_low_bits_insert_as_fast_as_others() -> None:
    # Multiples of 65,536 inserted 30-60x slower: the transition hash ignored their low bits.
    def insert_seconds(ids: list[int]) -> float:
        trie = NgramTrie(max_order=1)
        start = time.perf_counter()
        trie.extend(ids)
        return time.perf_counter() - start

    plain = [(i * 2_654_435_761) % 60_000 for i in range(30_000)]
    shifted = [t << 16 for t in plain]
    # Interleaved, best of 5 each: the machine is shared. The old hash made this about 100x.
    best = {"plain": float("inf"), "shifted": float("inf")}
    for _ in range(5):
        best["plain"] = min(best["plain"], insert_seconds(plain))
        best["shifted"] = min(best["shifted"], insert_seconds(shifted))
    ratio = best["shifted"] / best["plain"]
    assert ratio < 5, f"ids that are multiples of 65,536 insert {ratio:.1f}x slower"


# ---------------------------------------------------------------------------------------------
# Small behaviours


def test_a_zero_token_draft_reports_the_cursor_match() -> None:
    sam = SuffixAutomaton(counts=True)
    sam.extend([1, 2, 3])
    cur = sam.cursor()
    cur.extend([1, 2])
    assert cur.match_length == 2
    for policy in ("recent", "frequent", "earliest"):
        d = cur.draft(0, policy=policy)
        assert len(d) == 0 and d.match_length == 2
    assert cur.draft_tree(budget=0).match_length == 2


def test_earliest_policy_copies_the_first_occurrence() -> None:
    sam = SuffixAutomaton()
    for s in ([7, 1, 2], [1, 2, 5, 6], [1, 2, 9]):
        sam.begin_sequence()
        sam.extend(s)
    cur = sam.cursor()
    cur.extend([1, 2])
    assert cur.draft(4, policy="earliest").tokens == [5, 6]
    assert cur.draft(4, policy="recent").tokens == [9]
    store = Store()
    store.extend([1, 2, 5, 6], "family")
    store.begin_sequence("family")
    store.extend([1, 2, 9], "family")
    sc = store.cursor()
    sc.extend([1, 2])
    assert sc.draft(4, policy="earliest").tokens == [5, 6]


@pytest.mark.parametrize("make", [lambda: NgramTrie(max_order=40), lambda: Store(max_order=40), lambda: NgramTrie(max_order=-1)])
def test_messages_say_the_range_in_words(make: Callable[[], object]) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        make()
    message = str(info.value)
    assert "..=" not in message and "must be between 1 and 32, got" in message
    assert message.startswith("max_order must be between")
    assert isinstance(info.value, SpecscaleError)
