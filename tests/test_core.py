"""The native core through its Python bindings, against brute-force oracles over token lists."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import specscale
from hypothesis import given, settings
from hypothesis import strategies as st
from specscale import DraftTree, NgramTrie, Store, SuffixAutomaton
from specscale.errors import (
    CorruptDataError,
    InvalidArgumentError,
    InvalidTokenError,
    SpecscaleError,
    TokenOverflowError,
    UnknownSequenceError,
)

# Small alphabets make repeats (the interesting case) common.
token = st.integers(min_value=0, max_value=3)
sequence = st.lists(token, max_size=25)
sequences = st.lists(sequence, min_size=1, max_size=4)


def occurs(seqs: list[list[int]], pattern: list[int]) -> bool:
    """Brute force: does `pattern` occur inside one of `seqs`?"""
    n = len(pattern)
    return n == 0 or any(s[i : i + n] == pattern for s in seqs for i in range(len(s) - n + 1))


def longest_suffix_match(seqs: list[list[int]], context: list[int]) -> int:
    return next(n for n in range(len(context), -1, -1) if occurs(seqs, context[len(context) - n :]))


def build(seqs: list[list[int]], **kwargs: object) -> SuffixAutomaton:
    sam = SuffixAutomaton(**kwargs)  # type: ignore[arg-type]
    for s in seqs:
        sam.begin_sequence()
        sam.extend(s)
    return sam


@settings(max_examples=150, deadline=None)
@given(seqs=sequences, pattern=st.lists(token, max_size=6))
def test_automaton_recognizes_exactly_the_stored_substrings(seqs: list[list[int]], pattern: list[int]) -> None:
    sam = build(seqs)
    assert sam.contains(pattern) == occurs(seqs, pattern)
    assert (pattern in sam) == occurs(seqs, pattern)
    assert sam.num_tokens == sum(map(len, seqs))
    # Nothing spans a sequence boundary unless it also occurs inside one sequence.
    for a, b in zip(seqs, seqs[1:]):
        if a and b:
            assert sam.contains([a[-1], b[0]]) == occurs(seqs, [a[-1], b[0]])


@settings(max_examples=100, deadline=None)
@given(
    seqs=sequences,
    context=st.lists(token, max_size=30),
    k=st.integers(1, 8),
    policy=st.sampled_from(["recent", "frequent"]),
)
def test_cursor_tracks_the_longest_suffix_and_drafts_real_continuations(
    seqs: list[list[int]], context: list[int], k: int, policy: str
) -> None:
    sam = build(seqs, counts=True)
    cur = sam.cursor()
    for i, t in enumerate(context):
        cur.advance(t)
        seen = context[: i + 1]
        assert cur.match_length == longest_suffix_match(seqs, seen)
        d = cur.draft(k, policy=policy)
        assert len(d) <= k and d.is_chain
        if d:
            m = d.match_length
            assert 1 <= m <= cur.match_length
            assert occurs(seqs, seen[len(seen) - m :] + d.tokens)


@settings(max_examples=80, deadline=None)
@given(seqs=sequences, context=st.lists(token, min_size=1, max_size=12), k=st.integers(1, 3), budget=st.integers(0, 20))
def test_automaton_draft_trees_hold_real_continuations(
    seqs: list[list[int]], context: list[int], k: int, budget: int
) -> None:
    sam = build(seqs, counts=True)
    cur = sam.cursor()
    cur.extend(context)
    tree = cur.draft_tree(k=k, depth=5, budget=budget)
    assert len(tree) <= budget and all(d <= 5 for d in tree.depths())
    m = tree.match_length
    for path in tree.paths():
        assert occurs(seqs, context[len(context) - m :] + [tree.tokens[i] for i in path])


@settings(max_examples=60, deadline=None)
@given(prefix=sequence, live=st.lists(token, min_size=1, max_size=30))
def test_live_generation_drafts_from_its_own_earlier_text(prefix: list[int], live: list[int]) -> None:
    # The engine pushes generated tokens into the store its cursor follows: drafts must still
    # continue an earlier occurrence, never the context's own end.
    sam = SuffixAutomaton()
    sam.begin_sequence()
    sam.extend(prefix)
    sam.begin_sequence()
    cur = sam.cursor()
    written: list[int] = []
    for t in live:
        sam.push(t)
        cur.advance(t)
        written.append(t)
        d = cur.draft(5)
        if d:
            m = d.match_length
            assert occurs([prefix, written], written[len(written) - m :] + d.tokens)


def test_the_documented_example() -> None:
    sam = SuffixAutomaton()
    seq_id = sam.begin_sequence()
    sam.extend([5, 6, 7, 5, 6, 8])
    sam.push(9)
    assert sam.num_tokens == 7 and sam.memory_bytes() > 0
    cur = sam.cursor()
    cur.extend([1, 5, 6])
    cur.advance(7)
    assert cur.match_length == 3
    d = cur.draft(8)
    assert d.tokens == [5, 6, 8, 9] and d.parents == [-1, 0, 1, 2] and d.match_length == 3
    sam.remove_sequence(seq_id)
    assert sam.num_tokens == 0 and not sam.contains([5])
    # The cursor notices the rebuild and resyncs.
    assert not cur.draft(8)


@settings(max_examples=100, deadline=None)
@given(seqs=sequences, order=st.integers(1, 4), context=st.lists(token, max_size=4), t=token)
def test_trie_counts_equal_brute_force(seqs: list[list[int]], order: int, context: list[int], t: int) -> None:
    trie = NgramTrie(max_order=order)
    for s in seqs:
        trie.begin_sequence()
        trie.extend(s)
    context = context[:order]
    pattern = context + [t]
    n = len(pattern)
    expected = sum(s[i : i + n] == pattern for s in seqs for i in range(len(s) - n + 1))
    assert trie.count(context, t) == expected
    tree = trie.top_continuations(context, k=2, depth=3, budget=8)
    assert len(tree) <= 8 and all(d <= 3 for d in tree.depths())
    assert all(p < i for i, p in enumerate(tree.parents))


def test_trie_tree_ranks_frequent_continuations_first() -> None:
    trie = NgramTrie(max_order=2)
    trie.begin_sequence()
    trie.extend([5, 6, 7, 5, 6, 7, 5, 6, 8, 1])
    assert trie.count([5, 6], 7) == 2 and trie.count([5, 6], 8) == 1
    assert trie.continuations([5, 6]) == [(7, 2), (8, 1)]
    tree = trie.top_continuations([5, 6], k=3, depth=4, budget=16)
    roots = [i for i, p in enumerate(tree.parents) if p == -1]
    assert [tree.tokens[i] for i in roots] == [7, 8]
    assert tree.scores[roots[0]] > tree.scores[roots[1]]
    # Best first: 7 (2/3), then 7's sure continuation 5 (2/3 * 1) before the root's 8 (1/3).
    assert tree.tokens[:2] == [7, 5] and tree.parents[:2] == [-1, 0]
    with pytest.raises(InvalidArgumentError, match="max_order=2"):
        trie.count([1, 2, 3], 4)


@settings(max_examples=40, deadline=None)
@given(seqs=sequences, victim=st.integers(0, 3))
def test_removal_matches_a_fresh_build(seqs: list[list[int]], victim: int) -> None:
    sam = build(seqs)
    trie = NgramTrie(max_order=2)
    for s in seqs:
        trie.begin_sequence()
        trie.extend(s)
    victim %= len(seqs)
    sam.remove_sequence(sam.sequence_ids()[victim])
    trie.remove_sequence(trie.sequence_ids()[victim])
    rest = seqs[:victim] + seqs[victim + 1 :]
    for s in seqs:
        for i in range(len(s)):
            assert sam.contains(s[i : i + 3]) == occurs(rest, s[i : i + 3])
            if i + 2 < len(s):
                n = sum(r[j : j + 3] == s[i : i + 3] for r in rest for j in range(len(r) - 2))
                assert trie.count(s[i : i + 2], s[i + 2]) == n


@settings(max_examples=40, deadline=None)
@given(seqs=sequences)
def test_save_load_and_pickle_round_trip(seqs: list[list[int]]) -> None:
    sam = build(seqs, counts=True)
    store = Store(max_order=3)
    trie = NgramTrie(max_order=3)
    for s in seqs:
        trie.begin_sequence()
        trie.extend(s)
        store.begin_sequence("family")
        store.extend(s, "family")
    for obj in (sam, trie, store):
        back = pickle.loads(pickle.dumps(obj))
        assert back.to_bytes() == obj.to_bytes()
        assert type(obj).from_bytes(obj.to_bytes()).to_bytes() == obj.to_bytes()
    back_sam = pickle.loads(pickle.dumps(sam))
    assert [back_sam.sequence(i) for i in back_sam.sequence_ids()] == seqs
    assert back_sam.num_states == sam.num_states


def test_truncated_or_altered_bytes_raise_corrupt_data_error() -> None:
    sam = build([[1, 2, 3, 1, 2], [3, 3, 1]])
    data = sam.to_bytes()
    for cut in range(len(data)):
        with pytest.raises(CorruptDataError):
            SuffixAutomaton.from_bytes(data[:cut])
    flipped = bytearray(data)
    flipped[12] ^= 0x40
    with pytest.raises(CorruptDataError, match="checksum"):
        SuffixAutomaton.from_bytes(bytes(flipped))
    with pytest.raises(CorruptDataError, match="NgramTrie"):
        NgramTrie.from_bytes(data)
    with pytest.raises(CorruptDataError):
        Store.from_bytes(b"garbage")
    other_version = bytearray(data)
    other_version[4] = 99
    with pytest.raises(CorruptDataError, match="version 99"):
        SuffixAutomaton.from_bytes(bytes(other_version))
    assert issubclass(CorruptDataError, ValueError)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ([1, -1], InvalidTokenError, r"tokens\[1\] must be a token id between 0 and 2\*\*32 - 1, got -1$"),
        ([2**32], TokenOverflowError, r"tokens\[0\] must be .*, got 4294967296 \(does not fit in 32 bits\)"),
        ([2**80], TokenOverflowError, r"tokens\[0\] must be .*, got 1208925819614629174706176"),
        ([1, 2.5], TypeError, r"tokens\[1\] must be an int token id, got float 2.5"),
        ([True], TypeError, r"tokens\[0\] must be an int token id, got bool True"),
        ("1 2 3", TypeError, r"got str \(tokenize the text first\)"),
        (7, TypeError, r"got int 7 \(wrap a single token in a list\)"),
        (None, TypeError, "got NoneType"),
        (np.array([1.0, 2.0]), TypeError, "dtype float64"),
        (np.array([[1, 2], [3, 4]]), TypeError, r"got a 2-d numpy.ndarray of shape \(2, 2\)"),
        (np.array([[1, 2, 3]]), TypeError, r"shape \(1, 3\)"),  # accepted before: exactly 1-D now
        (np.array([1, -5], dtype=np.int32), InvalidTokenError, r"tokens\[1\] must be .*, got -5"),
        (np.array([2**40], dtype=np.int64), TokenOverflowError, "does not fit"),
    ],
)
def test_bad_tokens_raise_named_errors_and_change_nothing(bad: object, error: type, message: str) -> None:
    sam = build([[1, 2, 3]])
    before = sam.to_bytes()
    with pytest.raises(error, match=message):
        sam.extend(bad)
    assert sam.to_bytes() == before
    assert issubclass(InvalidTokenError, ValueError) and issubclass(TokenOverflowError, OverflowError)
    assert issubclass(InvalidTokenError, SpecscaleError)


def test_bad_arguments_raise_value_errors() -> None:
    sam = build([[1, 2, 3]])
    with pytest.raises(UnknownSequenceError, match="42") as info:
        sam.remove_sequence(42)
    assert isinstance(info.value, KeyError)
    with pytest.raises(InvalidArgumentError, match="policy"):
        sam.cursor().draft(4, policy="sideways")
    with pytest.raises(InvalidArgumentError, match="counts=True"):
        c = sam.cursor()
        c.extend([1, 2])
        c.draft(4, policy="frequent")
    with pytest.raises(InvalidArgumentError, match=r"max_tokens must be between 0 and 2\*\*63 - 1, got -1"):
        sam.draft([1], max_tokens=-1)
    with pytest.raises(InvalidArgumentError, match="max_order must be between 1 and 32, got 0"):
        NgramTrie(max_order=0)
    with pytest.raises(InvalidArgumentError, match=r"k must be between 1 and 65536, got 0"):
        NgramTrie().top_continuations([1], k=0)
    with pytest.raises(InvalidArgumentError, match="scope must be 'request', .*, got 'planet'"):
        Store().begin_sequence("planet")
    with pytest.raises(InvalidArgumentError, match="capacity_tokens must be between 1 and .*, got 0"):
        SuffixAutomaton(capacity_tokens=0)
    with pytest.raises(InvalidArgumentError, match=r"parents\[1\] = 1"):
        DraftTree([1, 2], parents=[-1, 1])
    with pytest.raises(InvalidArgumentError, match=r"lengths\[1\] must be between 0 and 3 .*, got 4"):
        sam.draft_batch(np.zeros((2, 3), dtype=np.int64), lengths=[1, 4])


def test_numpy_and_torch_inputs_are_accepted() -> None:
    torch = pytest.importorskip("torch")
    tokens = [5, 6, 7, 5, 6, 8]
    reference = build([tokens]).to_bytes()
    for dtype in (np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64, np.uint64):
        assert build([np.array(tokens, dtype=dtype)]).to_bytes() == reference  # type: ignore[list-item]
    strided = np.array([5, 0, 6, 0, 7, 0, 5, 0, 6, 0, 8, 0])[::2]
    assert build([strided]).to_bytes() == reference  # type: ignore[list-item]
    assert build([np.array(tokens, dtype=">i4")]).to_bytes() == reference  # type: ignore[list-item]
    assert build([torch.tensor(tokens)]).to_bytes() == reference
    assert build([torch.tensor(tokens, dtype=torch.int32)[None, :][0]]).to_bytes() == reference
    assert build([(t for t in tokens)]).to_bytes() == reference  # type: ignore[list-item]


def test_batch_drafts_equal_single_drafts() -> None:
    rng = np.random.default_rng(0)
    sam = build([list(rng.integers(0, 5, 300)) for _ in range(3)])
    trie = NgramTrie(max_order=3)
    trie.begin_sequence()
    trie.extend(rng.integers(0, 5, 500))
    contexts = rng.integers(0, 5, (40, 12))
    lengths = rng.integers(1, 13, 40)
    batch = sam.draft_batch(contexts, max_tokens=6, lengths=lengths)
    single = [sam.draft(row[:n], max_tokens=6) for row, n in zip(contexts, lengths)]
    assert batch == single
    assert sam.draft_batch([list(r) for r in contexts[:3]]) == [sam.draft(r) for r in contexts[:3]]
    trees = trie.top_continuations_batch(contexts, k=2, depth=3, budget=8)
    assert trees == [trie.top_continuations(r, k=2, depth=3, budget=8) for r in contexts]


def test_capacity_bounds_memory_under_a_long_run() -> None:
    sam = SuffixAutomaton(capacity_bytes=200_000)
    trie = NgramTrie(max_order=3, capacity_tokens=5_000)
    rng = np.random.default_rng(1)
    for _ in range(60):
        seq = rng.integers(0, 1000, 500)
        sam.begin_sequence()
        sam.extend(seq)
        trie.begin_sequence()
        trie.extend(seq)
        assert sam.memory_bytes() <= 2 * 200_000
        assert trie.num_tokens <= 5_000 + 500
    assert len(sam.sequence_ids()) < 60 and sam.sequence_ids()[-1] == 59
    assert sam.capacity == (None, 200_000)


def test_store_scopes_draft_from_the_longest_match_and_clear_independently() -> None:
    store = Store(max_order=3)
    sample = store.begin_sequence("family")
    store.extend([1, 2, 3, 4, 5, 6], "family")
    store.begin_sequence("request")
    store.extend([9, 9, 1, 2], "request")
    cur = store.cursor()
    cur.extend([9, 9, 1, 2])
    assert cur.draft(3).tokens == [3, 4, 5]
    assert cur.draft_tree(k=2, depth=3, budget=6).tokens[0] == 3
    assert store.num_tokens("family") == 6 and store.num_tokens() == 10
    store.remove_sequence(sample)
    assert not cur.draft(3)
    with pytest.raises(UnknownSequenceError):
        store.remove_sequence(sample)
    store.clear("request")
    assert store.num_tokens() == 0 and store.memory_bytes() > 0


def test_store_promotes_a_family_into_global_and_biases_global_drafts() -> None:
    store = Store(max_order=3, counts=True)
    assert store.max_order == 3 and store.has_counts
    store.begin_sequence("family")
    store.extend([1, 2, 3, 4, 5], "family")
    store.promote("family", "global")
    assert store.num_tokens("family") == 0
    (moved,) = store.sequence_ids("global")
    assert store.sequence(moved) == [1, 2, 3, 4, 5]
    store.begin_sequence("family")
    store.extend([3, 4, 9, 9], "family")
    cur = store.cursor()
    cur.extend([2, 3, 4])
    assert cur.draft(2).tokens == [5]  # the global match (3 tokens) is the longest
    assert cur.draft(2, global_bias=1).tokens == [9, 9]  # but not by more than 1 token
    assert cur.frequency_tree(k=2, depth=3, budget=4).tokens[0] == 5
    assert set(store.top_continuations([3, 4], k=2, depth=2, budget=4).tokens) >= {5, 9}
    with pytest.raises(InvalidArgumentError):
        store.promote("global", "global")
    with pytest.raises(UnknownSequenceError):
        store.sequence(7 << 56)


def test_draft_tree_construction_and_pickling() -> None:
    tree = DraftTree([4, 5, 6], parents=[-1, -1, 0], scores=[0.5, 0.3, 0.2], match_length=2)
    assert not tree.is_chain and tree.depths() == [1, 1, 2] and tree.paths() == [[1], [0, 2]]
    assert pickle.loads(pickle.dumps(tree)) == tree
    assert DraftTree.chain([1, 2]).is_chain and len(DraftTree.empty()) == 0
    assert list(tree.tokens_array()) == [4, 5, 6]
    assert "DraftTree" in repr(tree) and "SuffixAutomaton" in repr(SuffixAutomaton())


def test_stubs_match_the_extension_module() -> None:
    stubtest = pytest.importorskip("mypy.stubtest")
    code = stubtest.test_stubs(stubtest.parse_options(["specscale._core", "--ignore-missing-stub"]))
    assert code == 0, "specscale/_core.pyi disagrees with the extension module (see the output above)"


def test_public_names() -> None:
    for name in ("SuffixAutomaton", "NgramTrie", "DraftTree", "Store", "Cursor", "StoreCursor"):
        assert name in specscale.__all__ and hasattr(specscale, name)


def test_shrink_to_fit_releases_memory_and_changes_nothing_else() -> None:
    rng = np.random.default_rng(2)
    sam, trie = SuffixAutomaton(), NgramTrie(max_order=3)
    for _ in range(5):
        seq = rng.integers(0, 50, 700)
        sam.begin_sequence()
        sam.extend(seq)
        trie.begin_sequence()
        trie.extend(seq)
    for obj in (sam, trie):
        before, data = obj.memory_bytes(), obj.to_bytes()
        obj.shrink_to_fit()
        assert obj.memory_bytes() <= before and obj.to_bytes() == data
    cur = sam.cursor()
    cur.extend(seq[:20])
    assert cur.draft(8).tokens == list(seq[20:28])
