"""Cost-aware trees: the bindings, the drafter, its registry entry, and the replay sweep that plots the
frontier. Losslessness in every regime is checked for every registered method in test_invariants."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specscale import CostAwareDrafter, CostAwareTrees, InvalidArgumentError, Store, methods
from specscale._core import best_prefix
from specscale.bench.costmodel import CostModel, HARDWARE, RooflineCostModel, architecture_from
from specscale.bench.replay import replay_token_rows, sweep_token_rows, write_frontier_plot
from specscale.drafters.costaware import RelativeCosts
from specscale.loop import generate_from_trace

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
TRACES = SHARED / "data" / "traces" / "bon8_math_qwen25math.jsonl"
TOKENIZER = SHARED / "tokenizers" / "qwen2"


def family(*sequences: list[int]) -> Store:
    store = Store()
    for s in sequences:
        store.begin_sequence("family")
        store.extend(s, "family")
    return store


def paths(tree) -> list[list[int]]:
    return [[tree.tokens[i] for i in p] for p in tree.paths()]


def cpu_like() -> CostModel:
    """A steep table: a second token costs 70% of a step more, then 5% per token (this CPU's shape)."""
    ks = [1, 2, 4, 8, 16, 32, 64]
    return CostModel(
        model={"name": "synthetic", "architecture": "none", "params": 0},
        device="cpu",
        dtype="fp32",
        context_lengths=[128, 1024],
        draft_tokens=ks,
        seconds=[[0.1 * (1.0 if k == 1 else 1.7 + 0.05 * k) for k in ks] for _ in range(2)],
    )


# --- the core, through its bindings -----------------------------------------------------------------


def test_every_occurrence_proposes_its_continuation():
    store = family([1, 2, 3, 4, 5, 6], [9, 1, 2, 3, 7, 8, 9], [1, 2, 3])
    cursor = CostAwareTrees().cursor()
    cursor.extend([1, 2, 3])
    cursor.set_costs(node_cost=0.0)
    tree = cursor.draft(store, 16)
    assert [4, 5, 6] in paths(tree) and [7, 8, 9] in paths(tree)
    assert tree.match_length == 3
    assert all(0 < p <= 1 for p in tree.scores)
    assert tree.scores == sorted(tree.scores, reverse=True)  # best first
    assert cursor.last_candidates == 2


def test_the_cost_decides_the_size():
    store = family([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 9, 9, 9], [1, 2, 3])
    run = CostAwareTrees()
    cursor = run.cursor()
    cursor.extend([1, 2, 3])
    sizes = []
    for price in (0.0, 0.05, 0.3, 5.0):
        cursor.set_costs(node_cost=price)
        sizes.append(len(cursor.draft(store, 32)))
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[2] and sizes[-1] == 0
    # A table: costs[n] for n nodes; nothing beyond it is drafted.
    cursor.set_costs([1.0, 1.0, 1.0])
    assert len(cursor.draft(store, 32)) == 2


def test_best_prefix_keeps_what_pays():
    assert best_prefix([0.9, 0.8, 0.05], [1.0, 1.1, 1.2, 1.3], 1.0) == 2
    assert best_prefix([0.9, 0.8, 0.1], [1.0, 1.0, 1.0, 1.0], 1.0) == 3
    assert best_prefix([0.45, 0.44], [1.0, 1.5, 1.55], 1.0) == 2  # two together beat the jump
    assert best_prefix([], [1.0], 1.0) == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: CostAwareTrees(max_candidates=0), "max_candidates"),
        (lambda: CostAwareTrees(max_depth=0), "max_depth"),
        (lambda: CostAwareTrees(min_probability=1.5), "min_probability"),
        (lambda: CostAwareTrees(prior=0.0), "prior"),
        (lambda: CostAwareTrees().cursor().set_costs(node_cost=-1.0), "node_cost"),
        (lambda: CostAwareTrees().cursor().set_costs([]), "costs"),
        (lambda: CostAwareTrees().cursor().set_costs([1.0, float("nan")]), "costs"),
        (lambda: CostAwareTrees().cursor().draft(Store(), -1), "max_nodes"),
        (lambda: CostAwareTrees().cursor().draft(Store(), 2**40), "max_nodes"),
        (lambda: CostAwareTrees(max_candidates=70000), "max_candidates"),
        (lambda: CostAwareTrees(prior=float("nan")), "prior"),
        (lambda: CostAwareTrees().acceptance(1, 1, 2.0, True, True), "share"),
        (lambda: best_prefix([1.5], [1.0, 1.0], 1.0), "probs"),
        (lambda: best_prefix([0.5], [1.0, 1.0], -1.0), "rate"),
    ],
)
def test_bad_arguments_raise_our_error_naming_them(call, match):
    with pytest.raises(InvalidArgumentError, match=match):
        call()


def test_a_bool_or_a_float_count_is_a_type_error():
    with pytest.raises(TypeError, match="max_candidates"):
        CostAwareTrees(max_candidates=True)
    with pytest.raises(TypeError, match="max_nodes"):
        CostAwareTrees().cursor().draft(Store(), 4.5)


def test_threads_drafting_from_one_run_while_the_store_grows():
    """Cursors of one run on four threads draft and learn while a fifth writes the store: every call
    succeeds (the run, the cursors and the store are locked in one order, GIL released) and every
    draft continues what the store holds."""
    import threading

    store = Store()
    base = [random.Random(7).randrange(50) for _ in range(400)]
    store.begin_sequence("family")
    store.extend(base, "family")
    store.close_sequence("family")
    run = CostAwareTrees()
    errors: list[BaseException] = []
    drafted = [0] * 4

    def reader(k: int) -> None:
        try:
            cursor = run.cursor()
            rng = random.Random(k)
            start = rng.randrange(300)
            cursor.extend(base[start : start + 8])
            for i in range(200):
                tree = cursor.draft(store, 16)
                drafted[k] += len(tree)
                cursor.observe(store, [base[(start + 8 + i) % len(base)]])
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    def writer() -> None:
        try:
            for i in range(50):
                store.begin_sequence("family")
                store.extend(base[i : i + 60], "family")
                store.close_sequence("family")
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    assert errors == []
    assert all(n > 0 for n in drafted)
    assert run.observations > 0


def test_one_run_indexes_one_store():
    run = CostAwareTrees()
    cursor = run.cursor()
    cursor.extend([1])
    cursor.draft(family([1, 2]), 4)
    with pytest.raises(InvalidArgumentError, match="another Store"):
        cursor.draft(family([1, 2]), 4)


@settings(max_examples=60, deadline=None)
@given(
    samples=st.lists(st.lists(st.integers(0, 5), min_size=0, max_size=40), min_size=1, max_size=4),
    written=st.lists(st.integers(0, 5), min_size=1, max_size=40),
    price=st.sampled_from([0.0, 0.02, 0.3]),
)
def test_trees_are_real_continuations_and_learning_never_breaks_them(samples, written, price):
    """Every root-to-node path follows an occurrence of the context's last token in one stored sequence,
    parents come first, probabilities fall along the best-first order; and this holds step after step
    while the generation is written and the statistics learn."""
    store = family(*samples)
    run = CostAwareTrees(max_candidates=8)
    cursor = run.cursor()
    store.begin_sequence("family")
    store.extend([written[0]], "family")
    cursor.extend([written[0]])
    cursor.set_costs(node_cost=price)
    context = [written[0]]
    for token in written[1:]:
        tree = cursor.draft(store, 12)
        stored = [store.sequence(i) for i in store.sequence_ids("family")]
        for p, path in zip(tree.paths(), paths(tree)):
            want = [context[-1], *path]
            assert any(
                seq[i : i + len(want)] == want for seq in stored for i in range(len(seq) - len(want) + 1)
            ), (want, stored)
        assert all(-1 <= q < i for i, q in enumerate(tree.parents))
        assert tree.scores == sorted(tree.scores, reverse=True)
        store.extend([token], "family")
        cursor.observe(store, [token])
        context.append(token)


# --- the drafter and its method -----------------------------------------------------------------------


def test_relative_costs_from_a_roofline_are_flat_and_from_a_cpu_table_steep():
    gpu = RelativeCosts(RooflineCostModel(architecture_from("qwen3-8b"), HARDWARE["h200"]), max_nodes=64)
    cpu = RelativeCosts(cpu_like(), max_nodes=64)
    assert gpu.costs(1000)[0] == pytest.approx(1.0) and gpu.costs(1000)[64] < 1.01
    assert cpu.costs(1000)[1] > 1.6
    assert cpu.costs(1000) is cpu.costs(1020)  # one table per 256-token bucket (768..1023)
    with pytest.raises(InvalidArgumentError, match="step_seconds"):
        RelativeCosts(object(), 8)  # type: ignore[arg-type]


def test_the_drafter_drafts_long_trees_for_a_gpu_and_short_ones_for_a_cpu():
    """The same drafter over the same text, where continuations are uncertain (random text over a few
    tokens): sized by a GPU roofline it drafts several times the nodes it drafts for a CPU table, and
    the output is the text either way."""
    rng = random.Random(0)
    earlier = [[rng.randrange(6) for _ in range(300)] for _ in range(3)]
    written = [rng.randrange(6) for _ in range(200)]
    nodes = {}
    for name, model in (
        ("gpu", RooflineCostModel(architecture_from("qwen3-8b"), HARDWARE["h200"])),
        ("cpu", cpu_like()),
    ):
        drafter = CostAwareDrafter(store=family(*earlier), costs=RelativeCosts(model, 64), max_nodes=64)
        out = generate_from_trace([1, 2], written, drafter, max_draft_tokens=64)
        nodes[name] = out.stats.draft_tokens / out.stats.steps
        assert out.new_tokens == written
    assert nodes["gpu"] > 3 * nodes["cpu"], nodes


def test_live_costs_fit_what_verification_costs_here_and_keep_the_tables_shape():
    table = RelativeCosts(cpu_like(), 16)
    live = RelativeCosts(cpu_like(), 16, live=True)
    assert live.costs(200) == table.costs(200) and live.version == 0  # until it has seen steps
    for _ in range(40):
        for costs in (table, live):
            costs.observe(200, 0, 0.1)  # plain steps: the unit
    rng = random.Random(3)
    for _ in range(200):
        n = rng.choice([3, 7, 15])
        # Here a drafting step costs 0.5 of a step more than the table says, whatever its size.
        seconds = 0.1 * (0.5 + table.costs(200)[n]) * rng.uniform(0.97, 1.03)
        table.observe(200, n, seconds)
        live.observe(200, n, seconds)
    assert table.version == 0 and table.costs(200) == table.table(200)  # live=False: never corrected
    assert live.version > 0
    # At the sizes it drafted (and between them) the prices are what the steps cost.
    got, raw = live.costs(200), table.table(200)
    for n in (3, 5, 7, 11, 15):
        assert got[n] == pytest.approx(0.5 + raw[n], rel=0.05), (n, live.offset, live.slope)
    assert got[0] == 1.0
    live.observe(200, 3, float("nan"))  # a broken clock reading is ignored
    assert all(c == c for c in live.costs(200))
    with pytest.raises(InvalidArgumentError, match="live_weight"):
        RelativeCosts(cpu_like(), 16, live=True, live_weight=0)


def test_the_drafter_prices_its_nodes_by_the_step_times_it_is_given():
    costs = RelativeCosts(cpu_like(), 16, live=True)
    drafter = CostAwareDrafter(store=family(list(range(10, 60))), costs=costs, max_nodes=16)
    drafter.started()
    drafter.begin([1, 10, 11])
    for _ in range(5):
        drafter.observe_step_time(0, 0.1)
    for _ in range(RelativeCosts.REFIT_EVERY):
        drafter.propose([1, 10, 11], 16)
        drafter.observe_step_time(7, 0.5)  # far dearer than the table's 2.05
    assert costs.version == 1 and costs.costs(3)[7] > 2.5
    # The next draft is sized by the corrected prices: they reach the cursor.
    drafter.propose([1, 10, 11], 16)
    assert drafter._costs_version == costs.version


def test_in_a_live_generation_the_step_times_reach_the_prices():
    import specscale
    from tiny_models import tiny_model

    model = tiny_model("llama", 64, scale=4.0)  # a sharp random model loops: there is text to draft from
    costs = RelativeCosts(cpu_like(), 16, live=True)
    drafter = CostAwareDrafter(costs=costs, max_nodes=16)
    out = specscale.generate(model, [1, 2, 3], drafter=drafter, max_new_tokens=160, eos_token_id=[])
    assert out.stats.draft_tokens > 0
    assert costs.version > 0  # refitted from this generation's own step times


def test_the_method_reads_its_cost_model_and_refuses_a_missing_one(tmp_path):
    path = tmp_path / "cpu.json"
    cpu_like().save(path)
    settings = methods.settings_map({"costaware": {"cost_model": str(path)}})
    run = methods.get("costaware").open(settings)
    drafter = run.drafter()
    assert isinstance(drafter, CostAwareDrafter) and drafter.costs is not None
    missing = methods.settings_map({"costaware": {"cost_model": str(tmp_path / "nope.json")}})
    with pytest.raises(InvalidArgumentError, match="no such file"):
        methods.get("costaware").check(missing)


def test_the_run_shares_what_it_learns_across_generations():
    run = methods.get("costaware").open(methods.settings_map())
    text = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14] * 4
    first = generate_from_trace([1, 5], text, run.drafter(), max_draft_tokens=run.budget)
    learned = run.drafter().trees.observations  # type: ignore[attr-defined]
    second = generate_from_trace([1, 5], text, run.drafter(), max_draft_tokens=run.budget)
    assert learned > 0
    # The second sample drafts from the first (the family scope) and accepts far more per step.
    assert second.stats.mean_accepted_tokens > 2 * first.stats.mean_accepted_tokens


def test_the_run_learns_how_each_streak_goes():
    # The second sample copies the first: every 4-node draft is accepted whole, more often than its
    # cells expect, so drafts after a complete step count for more (the split itself: the core's tests).
    run = methods.get("costaware").open(methods.settings_map({"costaware": {"max_nodes": 4}}))
    text = list(range(100, 400))
    generate_from_trace([1, 5], text, run.drafter(), max_draft_tokens=run.budget)
    drafter = run.drafter()
    assert isinstance(drafter, CostAwareDrafter) and drafter.trees is not None
    out = generate_from_trace([1, 5], text, drafter, max_draft_tokens=run.budget)
    assert out.stats.mean_accepted_tokens > 4
    factors = drafter.trees.streak_factors()
    assert set(factors) == {"undrafted", "rejected", "partial", "complete"}
    assert factors["complete"] > 1.01, factors  # 1.0 until a complete step is observed
    assert CostAwareTrees().cursor().streak == "undrafted"


# --- the frontier ---------------------------------------------------------------------------------------


def toy_rows() -> list[tuple[list[int], list[list[int]]]]:
    base = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    variant = [3, 4, 5, 60, 7, 8, 9, 10, 11, 120, 13, 14, 15, 16]
    return [([1, 2], [base * 2, variant * 2, base * 2, variant * 2])]


def test_the_sweep_traces_each_methods_frontier_and_plots_it(tmp_path):
    points = sweep_token_rows(toy_rows(), ["sam+", "costaware"])
    by = {}
    for p in points:
        by.setdefault(p.method, []).append(p)
    assert len(by["sam+"]) == 1 + len(methods.get("sam+").sweep)
    assert by["sam+"][0].changes == {}  # as set first
    nodes = [p.report.draft_tokens / p.report.steps for p in by["costaware"][1:]]
    # Cheaper nodes, bigger drafts: the frontier runs from small to large.
    assert nodes[-1] > 2 * nodes[0]
    assert by["costaware"][-1].report.mat > by["costaware"][1].report.mat
    png = write_frontier_plot(points, tmp_path / "frontier.png", "toy")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replay_gives_cost_aware_methods_the_cost_model_it_predicts_with(tmp_path, capsys):
    from specscale.cli import main

    if not TOKENIZER.is_dir():
        pytest.skip(f"needs the Qwen2 tokenizer at {TOKENIZER} (../shared beside the checkout)")
    traces = tmp_path / "t.jsonl"
    traces.write_text(json.dumps({"question": "1 2 3", "response": ["a b c a b c a b c"] * 3}) + "\n")
    cost = tmp_path / "cpu.json"
    cpu_like().save(cost)
    out = tmp_path / "r.json"
    code = main(
        ["replay", str(traces), "--tokenizer", str(TOKENIZER), "--methods", "costaware", "--cost-model", str(cost),
         "--json", str(out), "--quiet"]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["settings"]["costaware"]["cost_model"] == str(cost)
    assert "predicted_speedup" in doc["methods"]["costaware"]


@pytest.mark.skipif(not TRACES.is_file(), reason=f"needs the Best-of-8 traces at {TRACES}")
def test_on_real_best_of_8_samples_it_beats_the_chain():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(TOKENIZER))
    rows = []
    with TRACES.open() as f:
        for line in list(f)[:4]:
            r = json.loads(line)
            rows.append((tok.encode(r["question"]), [tok.encode(s) for s in r["response"]]))
    apart = {"sam+": {"global_tokens": 0}, "costaware": {"global_tokens": 0, "node_cost": 0.05}}
    reports = replay_token_rows(rows, ["sam+", "costaware"], settings=apart)
    sam, ours = reports["sam+"], reports["costaware"]
    assert ours.mat > 1.05 * sam.mat
    assert ours.draft_tokens / ours.steps < 3 * sam.draft_tokens / sam.steps
    pickle.dumps(ours.total.mean_accepted_tokens)
