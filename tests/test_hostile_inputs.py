"""Every token-taking API against hostile inputs: each call succeeds exactly as the same tokens in a plain
list would, or raises the documented exception, and a call that fails changes nothing.

Accepted: sequences and iterables of ints, 1-D integer numpy arrays (any dtype, byte order, strides,
alignment) and 1-D integer torch CPU tensors. Refused with ``TypeError``: strings, bytes-likes, sets,
mappings, 0-d arrays and tensors, bools, floats, masked arrays, arrays of other dimensions or dtypes,
nested lists. Bad values: ``InvalidTokenError`` (negative), ``TokenOverflowError`` (``>= 2**32``),
``SizeLimitError`` (more than ``2**32`` tokens in one call). An exception raised by the caller's own
iterable propagates unchanged.

The suite runs a short budget (40 examples per test, about 15 s); the longer run reported for issue 10
(3,000 examples per test, 55 tests, 12 minutes on the shared 2-core machine, all passing)::

    SPECSCALE_HOSTILE_EXAMPLES=3000 python -m pytest tests/test_hostile_inputs.py -q
"""

from __future__ import annotations

import array
import collections
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from specscale import DraftTree, NgramTrie, Store, SuffixAutomaton
from specscale.errors import (
    InvalidArgumentError,
    InvalidTokenError,
    SizeLimitError,
    SpecscaleError,
    TokenOverflowError,
)

try:
    import torch
except ImportError:  # the checks of tensors are skipped, the rest run
    torch = None

EXAMPLES = int(os.environ.get("SPECSCALE_HOSTILE_EXAMPLES", "40"))
U32_MAX = 2**32 - 1


class Boom(Exception):
    """Raised by the caller's own iterable, midway: it must reach the caller unchanged."""


# ------------------------------------------------------------------------------------------ inputs


@dataclass
class Input:
    """One hostile argument: `make()` builds it afresh (generators are used up), `tokens` is the plain
    list it stands for. `error` None: it must behave exactly like `tokens` (bad values included);
    otherwise the exception it must raise whatever it holds."""

    label: str
    make: Callable[[], Any]
    tokens: list[int]
    error: type[BaseException] | None = None


def first_bad(values: list[int]) -> type[BaseException] | None:
    """Brute force: the error of the first value that is not a token id."""
    for v in values:
        if v < 0:
            return InvalidTokenError
        if v > U32_MAX:
            return TokenOverflowError
    return None


class LyingLength:
    """Iterates `values` but claims another length (huge, zero or negative)."""

    def __init__(self, values: list[int], claimed: int) -> None:
        self.values, self.claimed = values, claimed

    def __len__(self) -> int:
        return self.claimed

    def __iter__(self) -> Iterator[int]:
        return iter(self.values)


class OldStyleSequence:
    """Indexable without `__iter__` (Python iterates it by `__getitem__` until IndexError)."""

    def __init__(self, values: list[int]) -> None:
        self.values = values

    def __getitem__(self, i: int) -> int:
        return self.values[i]


def raising_after(values: list[int], k: int) -> Iterator[int]:
    yield from values[:k]
    raise Boom("the caller's iterable failed")


INT_DTYPES = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8"]


def fits(values: list[int], dtype: str) -> bool:
    info = np.iinfo(np.dtype(dtype))
    return all(info.min <= v <= info.max for v in values)


def numpy_forms(values: list[int], dtype: str) -> list[tuple[str, Callable[[], Any]]]:
    le, be = np.dtype("<" + dtype), np.dtype(">" + dtype)

    def strided() -> np.ndarray:
        a = np.zeros(2 * len(values), dtype=le)
        a[::2] = values
        return a[::2]

    def misaligned() -> np.ndarray:
        raw = b"\0" + np.array(values, dtype=le).tobytes()
        return np.frombuffer(raw, dtype=le, offset=1)

    return [
        (f"numpy {dtype}", lambda: np.array(values, dtype=le)),
        (f"numpy big-endian {dtype}", lambda: np.array(values, dtype=be)),
        (f"numpy strided {dtype}", strided),
        (f"numpy reversed {dtype}", lambda: np.array(values[::-1], dtype=le)[::-1]),
        (f"numpy misaligned {dtype}", misaligned),
    ]


TORCH_DTYPES = ["int64", "int32", "int16", "int8", "uint8"]


def accepted_forms(values: list[int]) -> list[tuple[str, Callable[[], Any]]]:
    """Forms that stand for `values` itself: they behave like the list (values or errors alike)."""
    forms: list[tuple[str, Callable[[], Any]]] = [
        ("list", lambda: list(values)),
        ("tuple", lambda: tuple(values)),
        ("generator", lambda: (v for v in values)),
        ("iterator", lambda: iter(list(values))),
        ("deque", lambda: collections.deque(values)),
        ("dict values", lambda: dict(enumerate(values)).values()),
        ("length lies: huge", lambda: LyingLength(values, 2**40)),
        ("length lies: zero", lambda: LyingLength(values, 0)),
        ("sequence by __getitem__", lambda: OldStyleSequence(values)),
        (
            "numpy scalars",
            lambda: [np.int64(v) if -(2**63) <= v < 2**63 else v for v in values],
        ),
    ]
    if all(0 <= v <= U32_MAX for v in values):
        forms.append(("array.array('I')", lambda: array.array("I", values)))
    for dtype in INT_DTYPES:
        if fits(values, dtype):
            forms.extend(numpy_forms(values, dtype))
    if torch is not None:
        for dtype in TORCH_DTYPES:
            if fits(
                values, {"int64": "i8", "int32": "i4", "int16": "i2", "int8": "i1", "uint8": "u1"}[dtype]
            ):
                forms.append(
                    (f"torch {dtype}", lambda dtype=dtype: torch.tensor(values, dtype=getattr(torch, dtype)))
                )
    return forms


def refused_forms(values: list[int]) -> list[tuple[str, Callable[[], Any]]]:
    """Forms that are not token sequences whatever they hold: each raises TypeError."""
    small = [v for v in values if 0 <= v < 256] or [1]
    forms: list[tuple[str, Callable[[], Any]]] = [
        ("str", lambda: " ".join(map(str, values))),
        ("bytes", lambda: bytes(small)),
        ("bytearray", lambda: bytearray(small)),
        ("memoryview", lambda: memoryview(bytes(small))),
        ("set", lambda: set(values)),
        ("frozenset", lambda: frozenset(values)),
        ("dict", lambda: dict.fromkeys(values)),
        ("dict keys", lambda: dict.fromkeys(values).keys()),
        ("None", lambda: None),
        ("int", lambda: values[0] if values else 3),
        ("float", lambda: 1.5),
        ("bool list", lambda: [True, *values]),
        ("float list", lambda: [2.0, *values]),
        ("nested list", lambda: [list(values)]),
        ("str list", lambda: ["1", *values]),
        ("numpy 0-d", lambda: np.array(values[0] if values else 3)),
        ("numpy scalar", lambda: np.int64(3)),
        ("numpy bool", lambda: np.array([True, False])),
        ("numpy float", lambda: np.array(values, dtype=np.float64)),
        ("numpy complex", lambda: np.array([1 + 0j])),
        ("numpy object", lambda: np.array([*values, 1], dtype=object)),
        ("numpy 2-D", lambda: np.zeros((1, len(values) + 1), dtype=np.int64)),
        ("numpy masked", lambda: np.ma.masked_array([*small, 1], mask=[True] + [False] * len(small))),
    ]
    if torch is not None:
        forms += [
            ("torch 0-d", lambda: torch.tensor(5)),
            ("torch bool", lambda: torch.tensor([True, False])),
            ("torch float", lambda: torch.tensor([1.0, 2.0])),
            ("torch 2-D", lambda: torch.zeros((1, 2), dtype=torch.int64)),
        ]
    return forms


SPECIAL = [0, 1, U32_MAX, 2**32, 2**63 - 1, 2**63, 2**64 - 1, -1, -(2**63), 2**100, -(2**100)]
values_st = st.lists(st.one_of(st.integers(0, 6), st.sampled_from(SPECIAL)), max_size=8)


@st.composite
def hostile_sequences(draw: st.DrawFn) -> Input:
    values = draw(values_st)
    kind = draw(st.sampled_from(["accepted", "refused", "raising", "range", "huge"]))
    if kind == "accepted":
        label, make = draw(st.sampled_from(accepted_forms(values)))
        return Input(label, make, values)
    if kind == "refused":
        label, make = draw(st.sampled_from(refused_forms(values)))
        return Input(label, make, values, TypeError)
    if kind == "raising":
        clean = draw(st.lists(st.integers(0, 6), max_size=6))
        return Input("raises midway", lambda: raising_after(clean, len(clean) // 2), clean, Boom)
    if kind == "huge":
        huge = draw(st.sampled_from([range(2**40), range(-1, 2**33), range(2**70)]))
        return Input("huge range", lambda: huge, [], SizeLimitError)
    start = draw(st.sampled_from([0, 5, -3, U32_MAX - 2]))
    step = draw(st.sampled_from([1, 2, -1, 2**31]))
    r = range(start, start + step * draw(st.integers(0, 6)), step)
    return Input("range", lambda: r, list(r))


single_tokens = st.one_of(
    st.sampled_from(SPECIAL).map(lambda v: Input("int", lambda: v, [v])),
    st.integers(0, 6).map(lambda v: Input("numpy int32", lambda: np.int32(v), [v])),
    st.integers(0, 6).map(lambda v: Input("numpy uint64", lambda: np.uint64(v), [v])),
    st.sampled_from(
        [
            ("bool", lambda: True),
            ("numpy bool", lambda: np.True_),
            ("float", lambda: 2.0),
            ("str", lambda: "5"),
            ("None", lambda: None),
            ("list", lambda: [5]),
            ("numpy 0-d", lambda: np.array(5)),
            ("numpy 1-element", lambda: np.array([5])),
        ]
        + (
            [("torch 0-d bool", lambda: torch.tensor(True)), ("torch 0-d", lambda: torch.tensor(5))]
            if torch
            else []
        )
    ).map(lambda lm: Input(lm[0], lm[1], [5], TypeError)),
)


# -------------------------------------------------------------------------------------------- APIs


def base_sam(**kwargs: Any) -> SuffixAutomaton:
    sam = SuffixAutomaton(**kwargs)
    for seq in ([1, 2, 3, 1, 2, 4], [5, 1, 2, 3, 6]):
        sam.begin_sequence()
        sam.extend(seq)
    return sam


def base_trie() -> NgramTrie:
    trie = NgramTrie(max_order=3)
    for seq in ([1, 2, 3, 1, 2, 4], [5, 1, 2, 3, 6]):
        trie.begin_sequence()
        trie.extend(seq)
    return trie


def base_store() -> Store:
    store = Store(max_order=3, counts=True)
    for scope, seq in (("request", [1, 2, 3, 1, 2]), ("family", [5, 1, 2, 3, 6]), ("global", [2, 3, 4])):
        store.begin_sequence(scope)
        store.extend(seq, scope=scope)
    return store


class Api:
    """A token-taking call: `setup()` builds what it acts on, `call(target, arg)` makes the call and
    returns what can be compared, `state(target)` what must not change when the call fails."""

    def __init__(
        self,
        name: str,
        setup: Callable[[], Any],
        call: Callable[[Any, Any], Any],
        state: Callable[[Any], Any] = lambda t: t.to_bytes(),
    ) -> None:
        self.name, self.setup, self.call, self.state = name, setup, call, state


def cursor_of(sam: SuffixAutomaton) -> Any:
    cur = sam.cursor()
    cur.extend([1, 2])
    return cur


def store_cursor_of(store: Store) -> Any:
    cur = store.cursor()
    cur.extend([1, 2])
    return cur


def cursor_state(cur: Any) -> Any:
    return cur.match_length, cur.draft(8)


def store_cursor_state(cur: Any) -> Any:
    return cur.match_length, cur.draft(8), cur.draft_tree()


SEQUENCE_APIS = [
    Api("SuffixAutomaton.extend", base_sam, lambda s, x: s.extend(x)),
    Api("SuffixAutomaton.contains", base_sam, lambda s, x: s.contains(x)),
    Api("SuffixAutomaton.__contains__", base_sam, lambda s, x: x in s),
    Api("SuffixAutomaton.occurrences", lambda: base_sam(counts=True), lambda s, x: s.occurrences(x)),
    Api("SuffixAutomaton.draft", base_sam, lambda s, x: s.draft(x, max_tokens=4)),
    Api("SuffixAutomaton.draft_batch", base_sam, lambda s, x: s.draft_batch([[1, 2], x])),
    Api("SuffixAutomaton.draft_batch lengths", base_sam, lambda s, x: s.draft_batch([[1, 2]] * 8, lengths=x)),
    Api("Cursor.extend", lambda: cursor_of(base_sam()), lambda c, x: c.extend(x), cursor_state),
    Api("NgramTrie.extend", base_trie, lambda t, x: t.extend(x)),
    Api("NgramTrie.count", base_trie, lambda t, x: t.count(x, 2)),
    Api("NgramTrie.continuations", base_trie, lambda t, x: t.continuations(x)),
    Api("NgramTrie.top_continuations", base_trie, lambda t, x: t.top_continuations(x, budget=8)),
    Api("NgramTrie.top_continuations_batch", base_trie, lambda t, x: t.top_continuations_batch([x, [1]])),
    Api("Store.extend", base_store, lambda s, x: s.extend(x, scope="family")),
    Api("Store.top_continuations", base_store, lambda s, x: s.top_continuations(x)),
    Api(
        "StoreCursor.extend",
        lambda: store_cursor_of(base_store()),
        lambda c, x: c.extend(x),
        store_cursor_state,
    ),
    Api("DraftTree", lambda: None, lambda _, x: DraftTree(x), lambda _: None),
    Api("DraftTree.chain", lambda: None, lambda _, x: DraftTree.chain(x), lambda _: None),
    Api("DraftTree parents", lambda: None, lambda _, x: DraftTree([7] * 8, parents=x), lambda _: None),
]

TOKEN_APIS = [
    Api("SuffixAutomaton.push", base_sam, lambda s, x: s.push(x)),
    Api("Cursor.advance", lambda: cursor_of(base_sam()), lambda c, x: c.advance(x), cursor_state),
    Api("NgramTrie.push", base_trie, lambda t, x: t.push(x)),
    Api("NgramTrie.count token", base_trie, lambda t, x: t.count([1], x)),
    Api("Store.push", base_store, lambda s, x: s.push(x, scope="global")),
    Api(
        "StoreCursor.advance",
        lambda: store_cursor_of(base_store()),
        lambda c, x: c.advance(x),
        store_cursor_state,
    ),
]


def outcome(api: Api, arg: Any) -> tuple[Any, Any]:
    """(result or exception type, state after) of one call on a fresh target."""
    target = api.setup()
    before = api.state(target)
    try:
        result: Any = api.call(target, arg)
    except Exception as e:  # noqa: BLE001 - the type is what the test compares
        assert api.state(target) == before, f"{api.name} failed with {e!r} and changed its target"
        return type(e), before
    return result, api.state(target)


# Calls whose integer sequence is not token ids (other ranges, InvalidArgumentError).
NOT_TOKENS = ("DraftTree parents", "SuffixAutomaton.draft_batch lengths")


def check(api: Api, arg: Input) -> None:
    got, got_state = outcome(api, arg.make())
    where = f"{api.name}({arg.label} of {arg.tokens})"
    if arg.error is not None:
        assert got is arg.error, f"{where}: {got!r}, expected {arg.error.__name__}"
        return
    plain, plain_state = outcome(api, list(arg.tokens))
    assert got == plain and got_state == plain_state, f"{where}: {got!r} != {plain!r}"
    bad = first_bad(arg.tokens)
    if bad is not None and api.name not in NOT_TOKENS:
        assert plain is bad, f"{where}: {plain!r}, expected {bad.__name__}"


hostile = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("api", SEQUENCE_APIS, ids=lambda a: a.name)
@hostile
@given(arg=hostile_sequences())
def test_sequence_arguments_behave_like_lists_or_raise_documented_errors(api: Api, arg: Input) -> None:
    assume(not (api.name in NOT_TOKENS and arg.label == "None"))  # None: the argument's default
    check(api, arg)


@pytest.mark.parametrize("api", TOKEN_APIS, ids=lambda a: a.name)
@hostile
@given(arg=single_tokens)
def test_single_token_arguments_behave_like_ints_or_raise_documented_errors(api: Api, arg: Input) -> None:
    got, got_state = outcome(api, arg.make())
    if arg.error is not None:
        assert got is arg.error, f"{api.name}({arg.label}): {got!r}"
        return
    plain, plain_state = outcome(api, arg.tokens[0])
    assert (got, got_state) == (plain, plain_state), f"{api.name}({arg.label})"
    assert first_bad(arg.tokens) in (None, plain), f"{api.name}({arg.label}): {plain!r}"


# ----------------------------------------------------------------------- the reproducers of issue 10


def test_a_huge_length_is_refused_before_anything_is_allocated() -> None:
    # Issue 10: `SuffixAutomaton().extend(range(2**40))` aborted the process ("memory allocation of
    # 4398046511104 bytes failed"). Run in a child process, so that a regression fails this test only.
    code = """
import specscale
from specscale.errors import SizeLimitError

class Lies:
    def __len__(self): return 2**40
    def __iter__(self): return iter([1, 2, 3])

sam = specscale.SuffixAutomaton()
for huge in (range(2**40), range(2**70)):
    try:
        sam.extend(huge)
    except SizeLimitError as e:
        assert "2**32" in str(e), e
    else:
        raise AssertionError("accepted")
sam.extend(Lies())  # a lying __len__ is never trusted: the 3 tokens are read one by one
assert sam.num_tokens == 3
print("ok")
"""
    run = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


@pytest.mark.parametrize(
    "bad",
    [
        np.array(5),
        np.ma.masked_array([1, 2, 3], mask=[False, True, False]),
        bytearray(b"\x01\x02"),
        memoryview(b"\x01\x02"),
        {1: "a", 2: "b"},
        {3, 1, 2},
        np.array([[1, 2, 3]]),
    ],
    ids=["0-d array", "masked array", "bytearray", "memoryview", "dict", "set", "(1, n) array"],
)
def test_inputs_accepted_silently_before_are_type_errors(bad: object) -> None:
    sam = base_sam()
    before = sam.to_bytes()
    with pytest.raises(TypeError, match="tokens must be"):
        sam.extend(bad)
    assert sam.to_bytes() == before


def test_torch_bools_and_0d_tensors_are_type_errors() -> None:
    if torch is None:
        pytest.skip("torch is not installed")
    sam = base_sam()
    before = sam.to_bytes()
    for bad in (torch.tensor(5), torch.tensor([True, False])):
        with pytest.raises(TypeError, match="tokens must be"):
            sam.extend(bad)
    with pytest.raises(TypeError, match="token must be an int token id"):
        sam.push(torch.tensor(True))  # stored 1 before
    assert sam.to_bytes() == before


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.draft([1], max_tokens=True), TypeError),
        (lambda s: s.draft([1], min_match=-1), "min_match must be between 0 and 2\\*\\*32 - 1, got -1"),
        (lambda s: s.draft([1], max_tokens=2**70), "max_tokens must be between 0 and 2\\*\\*63 - 1"),
        (lambda s: s.draft([1], window=-5), "window must be between 0 and"),
        (lambda s: s.cursor().draft(min_match=2**32), "min_match must be between 0 and 2\\*\\*32 - 1"),
        (lambda s: s.remove_sequence(-1), "seq_id must be between 0 and 2\\*\\*64 - 1, got -1"),
        (lambda s: s.sequence(2**64), "seq_id must be between 0 and 2\\*\\*64 - 1"),
        (lambda s: s.set_capacity(tokens=-3), "tokens must be between 1 and .* or None"),
        (lambda s: s.set_capacity(bytes=2**64), "bytes must be between 1 and .* or None"),
        (lambda s: SuffixAutomaton(capacity_tokens=2**70), "capacity_tokens must be between 1"),
        (lambda s: NgramTrie(max_order=40), "max_order must be between 1 and 32, got 40"),
        (lambda s: Store(max_order=-1), "max_order must be between 1 and 32, got -1"),
        (lambda s: Store().set_capacity("global", tokens=0), "tokens must be between 1"),
        (lambda s: NgramTrie().top_continuations([1], depth=10**12, budget=10**12), "depth must be between"),
        (lambda s: Store().cursor().draft_tree(budget=10**12), "budget must be between 0 and 65536"),
        (lambda s: Store().cursor().draft(global_bias=-1), "global_bias must be between"),
        (lambda s: DraftTree([1], match_length=-1), "match_length must be between 0 and 2\\*\\*32 - 1"),
    ],
)
def test_out_of_range_arguments_are_specscale_errors_naming_the_range(
    call: Callable[[SuffixAutomaton], object], message: str | type[BaseException]
) -> None:
    sam = base_sam()
    before = sam.to_bytes()
    if isinstance(message, str):
        # Before: a bare OverflowError or TypeError from the conversion, or no error at all.
        with pytest.raises(InvalidArgumentError, match=message):
            call(sam)
    else:
        with pytest.raises(message):
            call(sam)
    assert sam.to_bytes() == before


def test_zero_width_batches_agree_across_dtypes() -> None:
    # Issue 10: a zero-width int32 batch gave 0 drafts where int64 gave 3.
    sam = base_sam()
    for dtype in INT_DTYPES:
        assert sam.draft_batch(np.zeros((3, 0), dtype=dtype)) == [DraftTree.empty()] * 3, dtype
    assert len(NgramTrie().top_continuations_batch(np.zeros((3, 0), dtype=np.int32))) == 3


def test_a_panic_in_the_core_is_a_specscale_error_not_a_panic_exception() -> None:
    # Issue 10: a blob with a valid checksum whose sequence lengths overflow their running total
    # panicked inside from_bytes ("range end index 3 out of range for slice of length 2"), and
    # PanicException derives from BaseException: `except Exception` missed it.
    import struct
    import zlib

    sam = SuffixAutomaton()
    for seq in ([1, 2, 3], [4, 5]):
        sam.begin_sequence()
        sam.extend(seq)
    body = bytearray(sam.to_bytes()[:-4])
    # header 8 | counts 1 | capacities 16 | next id 8 | open 1 | count 8 | (id 8, length 8) per sequence
    length_of_second = 8 + 1 + 16 + 8 + 1 + 8 + 16 + 8
    assert struct.unpack_from("<Q", body, length_of_second)[0] == 2
    struct.pack_into("<Q", body, length_of_second, 2**64 - 1)
    blob = bytes(body) + struct.pack("<I", zlib.crc32(body))
    try:
        SuffixAutomaton.from_bytes(blob)
    except Exception as e:  # noqa: BLE001 - the point: an Exception, and ours
        assert isinstance(e, SpecscaleError), repr(e)
    else:
        raise AssertionError("a corrupt blob loaded")


def test_a_panic_becomes_internal_error() -> None:
    from specscale import _core
    from specscale.errors import InternalError

    with pytest.raises(InternalError, match="internal error in specscale .*: boom"):
        _core._panic_for_tests("boom")
    assert issubclass(InternalError, SpecscaleError) and issubclass(InternalError, RuntimeError)
    # A panic in the middle of a change leaves the structure unknown: every later call says so.
    sam = base_sam()
    with pytest.raises(InternalError, match="SuffixAutomaton.*: boom"):
        _core._panic_for_tests("boom", sam)
    for later in (lambda: sam.num_tokens, sam.to_bytes, lambda: sam.extend([1]), lambda: sam.cursor()):
        with pytest.raises(InternalError, match="unusable"):
            later()
    assert base_sam().num_tokens == 11  # other structures are not affected


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[list[int]], str, str]:
    width = draw(st.integers(0, 3))  # up to the trie's max_order
    rows = draw(st.lists(st.lists(st.integers(0, 6), min_size=width, max_size=width), max_size=5))
    dtype = draw(st.sampled_from(INT_DTYPES))
    layout = draw(st.sampled_from(["C", "F", "big-endian", "strided", "reversed"]))
    return rows, dtype, layout


@hostile
@given(batch=batches())
def test_two_dimensional_batches_equal_their_rows(batch: tuple[list[list[int]], str, str]) -> None:
    rows, dtype, layout = batch
    width = len(rows[0]) if rows else 0
    a = np.array(rows, dtype=dtype).reshape(len(rows), width)
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "big-endian":
        a = a.astype(a.dtype.newbyteorder(">"))
    elif layout == "strided":
        wide = np.zeros((len(rows), 2 * width), dtype=dtype)
        wide[:, ::2] = a
        a = wide[:, ::2]
    elif layout == "reversed":
        a = a[::-1, ::-1].copy()[::-1, ::-1]
    sam, trie = base_sam(), base_trie()
    assert (
        sam.draft_batch(a, max_tokens=4)
        == sam.draft_batch(rows, max_tokens=4)
        == [sam.draft(r, 4) for r in rows]
    )
    assert trie.top_continuations_batch(a) == [trie.top_continuations(r) for r in rows]
    cut = [i % (width + 1) for i in range(len(rows))]
    assert sam.draft_batch(a, lengths=np.array(cut, dtype=dtype)) == [
        sam.draft(r[:n]) for r, n in zip(rows, cut)
    ]
