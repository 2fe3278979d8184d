"""EAGLE-3: feature recording, the draft head, its tree search, checkpoints, and losslessness."""

from __future__ import annotations

import json

import pytest
import specscale
import torch
from eagle_training import fit_head, greedy_sequences, head_config, random_head, target_features
from safetensors.torch import load_file, save_file
from specscale import PrefixCache
from specscale.drafters.eagle import Eagle3DraftHead, Eagle3Drafter, default_feature_layers
from specscale.errors import InvalidArgumentError
from specscale.verify import FeatureRecorder
from tiny_models import ARCHS, reference_greedy, tiny_model

PROMPTS = ([5, 6, 7, 8], [9, 3, 4, 11, 9, 3], [20, 21, 22, 23, 24])


class Recording(Eagle3Drafter):
    """Keeps every (context, draft) pair so tests can recompute the drafts from scratch."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[list[int], list[int], list[int]]] = []
        self.budgets: list[int] = []

    def propose(self, context, max_tokens):
        tree = super().propose(context, max_tokens)
        self.log.append((list(context), list(tree.tokens), list(tree.parents)))
        self.budgets.append(max_tokens)
        return tree


@pytest.fixture(scope="module")
def trained():
    """A tiny Llama target (sharp, so it repeats itself) and a head trained on its greedy outputs."""
    model = tiny_model("llama", scale=4.0)
    layers = default_feature_layers(model.config.num_hidden_layers)
    head = fit_head(model, random_head(model), layers, greedy_sequences(model, 16, 48, 96), steps=300)
    return model, head


def test_default_feature_layers_follow_the_reference():
    assert default_feature_layers(32) == (2, 16, 29)
    assert default_feature_layers(36) == (2, 18, 33)
    assert default_feature_layers(2) == (1, 1, 0)  # clamped into range for tiny targets
    with pytest.raises(InvalidArgumentError):
        default_feature_layers(0)


@pytest.mark.parametrize("arch", ARCHS)
def test_feature_recorder_equals_output_hidden_states(arch):
    model = tiny_model(arch)
    layers = (1, 0, 1)  # order kept, a layer may repeat
    tokens = [3, 4, 5, 6, 7]
    expected, _ = target_features(model, tokens, layers)
    recorder = FeatureRecorder(model, layers)
    with torch.no_grad(), recorder:
        model(input_ids=torch.tensor([tokens]))
    assert recorder.features is not None
    torch.testing.assert_close(recorder.features, expected)
    # The hooks are gone afterwards: the model is unchanged.
    for module in recorder.modules:
        assert not module._forward_pre_hooks


def test_feature_recorder_rejects_missing_layers():
    model = tiny_model("llama")
    with pytest.raises(InvalidArgumentError, match="feature layer 2"):
        FeatureRecorder(model, (0, 1, 2))


@pytest.mark.parametrize("arch", ARCHS)
def test_greedy_output_equals_plain_decoding_with_a_random_head(arch):
    model = tiny_model(arch, scale=4.0)
    drafter = Eagle3Drafter(random_head(model, seed=3))
    for prompt in PROMPTS:
        out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[])
        assert out.new_tokens == reference_greedy(model, prompt, 40, eos_token_id=[])
        assert out.stats.draft_tokens > 0


def test_trained_head_is_accepted_and_output_is_unchanged(trained):
    model, head = trained
    mats = {}
    for name, h in (("random", random_head(model, seed=3)), ("trained", head)):
        total_steps = total_tokens = 0
        for prompt in PROMPTS:
            out = specscale.generate(model, prompt, drafter=Eagle3Drafter(h), max_new_tokens=48, eos_token_id=[])
            assert out.new_tokens == reference_greedy(model, prompt, 48, eos_token_id=[])
            total_steps += out.stats.steps
            total_tokens += out.stats.new_tokens
        mats[name] = total_tokens / total_steps
    # Features reach the head aligned: a head trained on them is accepted far more than a random one.
    assert mats["trained"] > 1.6 > mats["random"], mats


def _reference_tree(head, features, context, total, depth, top_k):
    """The draft tree recomputed from scratch: every node's output by a plain causal run over the context
    pairs and its root path, and the same selection rule written out with Python lists."""
    attn = head.midlayer.self_attn
    n = len(context)
    pairs_tokens = context[1:n]
    pairs_hidden = head.fuse(features[: n - 1])

    def run(path_tokens, path_hidden):
        tokens = torch.tensor(pairs_tokens + path_tokens)
        hidden = torch.cat([pairs_hidden] + path_hidden) if path_hidden else pairs_hidden
        m = tokens.shape[0]
        empty = torch.zeros((1, attn.num_kv_heads, 0, attn.head_dim), dtype=hidden.dtype)
        out, _, _ = head.step(tokens, hidden, torch.arange(m), (empty, empty), torch.ones((m, m), dtype=torch.bool).tril())
        return out[-1:]

    last = run([], [])
    nodes = []  # (score, parent, target token, output or None)
    lp = head.log_probs(last)[0]
    top = torch.topk(lp, top_k)
    for s, t in zip(top.values.tolist(), top.indices.tolist()):
        nodes.append([s, -1, int(head.to_target_ids(torch.tensor(t))), None])
    frontier = list(range(top_k))
    for _ in range(min(depth, total - 1)):
        children = []
        for f in frontier:
            path, hidden, node = [], [], f
            while node >= 0:
                path.append(node)
                node = nodes[node][1]
            path.reverse()
            hiddens = [last] + [nodes[a][3] for a in path[:-1]]
            out = run([nodes[a][2] for a in path], hiddens)
            nodes[f][3] = out
            lp = head.log_probs(out)[0]
            top = torch.topk(lp, top_k)
            for s, t in zip(top.values.tolist(), top.indices.tolist()):
                children.append((nodes[f][0] + s, f, int(head.to_target_ids(torch.tensor(t)))))
        base = len(nodes)
        for s, p, t in children:
            nodes.append([s, p, t, None])
        ranked = sorted(range(len(children)), key=lambda i: -children[i][0])[:top_k]
        frontier = [base + i for i in ranked]
    chosen = sorted(sorted(range(len(nodes)), key=lambda i: (-nodes[i][0], i))[:total])
    index = {c: i for i, c in enumerate(chosen)}
    return ([nodes[c][2] for c in chosen], [index[nodes[c][1]] if nodes[c][1] >= 0 else -1 for c in chosen])


def _float64(trained):
    model, head = trained
    model64 = tiny_model("llama", scale=4.0).double()
    head64 = Eagle3DraftHead(head.config)
    head64.load_state_dict(head.state_dict())
    return model64, head64.double().eval()


def test_drafts_equal_a_from_scratch_recomputation(trained):
    """In a real run (trees verified, paths compacted, the layer's context cache grown step by step), each
    draft equals the tree recomputed from a plain forward pass of the committed text, in float64."""
    model64, head64 = _float64(trained)
    layers = default_feature_layers(2)
    drafter = Recording(head64, total_tokens=20, depth=3, top_k=4)
    out = specscale.generate(model64, PROMPTS[1], drafter=drafter, max_new_tokens=40, eos_token_id=[])
    assert out.stats.mean_accepted_tokens > 1.5  # tree paths were accepted, so compaction was exercised
    checked = 0
    for (context, tokens, parents), budget in zip(drafter.log, drafter.budgets):
        if not tokens:
            continue
        features, _ = target_features(model64, context, layers)
        with torch.no_grad():
            expected = _reference_tree(head64, features, context, min(20, budget), 3, 4)
        assert (tokens, parents) == expected
        checked += 1
    assert checked >= 5


def test_tree_shape_follows_the_settings(trained):
    model, head = trained
    drafter = Recording(head, total_tokens=30, depth=2, top_k=5)
    specscale.generate(model, PROMPTS[0], drafter=drafter, max_new_tokens=20, eos_token_id=[])
    drafts = [(t, p) for _, t, p in drafter.log if t]
    assert drafts
    for tokens, parents in drafts:
        assert len(tokens) <= 30
        depth = []
        for p in parents:
            depth.append(0 if p < 0 else depth[p] + 1)
        assert max(depth) <= 2  # depth rounds after the first level
        assert parents.count(-1) <= 5
        for node in range(len(tokens)):
            assert parents.count(node) <= 5
    # The engine's budget caps the tree too.
    small = Recording(head, total_tokens=60)
    specscale.generate(model, PROMPTS[0], drafter=small, max_new_tokens=20, eos_token_id=[], max_draft_tokens=7)
    assert max(len(t) for _, t, _ in small.log) == 7


def test_first_step_has_no_draft_without_prefix_features(trained):
    model, head = trained
    drafter = Recording(head)
    specscale.generate(model, PROMPTS[0], drafter=drafter, max_new_tokens=5, eos_token_id=[])
    assert drafter.log[0][1] == []  # nothing read by the target yet
    assert any(t for _, t, _ in drafter.log[1:])


def test_prefix_cache_hands_its_features_to_the_drafter(trained):
    model, head = trained
    layers = default_feature_layers(2)
    prompt = PROMPTS[1]
    plain = Recording(head)
    base = specscale.generate(model, prompt, drafter=plain, max_new_tokens=30, eos_token_id=[])
    prefix = PrefixCache.prefill(model, prompt[:-1], feature_layers=layers)
    assert prefix.features is not None and prefix.features.shape == (len(prompt) - 1, 3 * 32)
    warm = Recording(head)
    out = specscale.generate(model, prompt, drafter=warm, max_new_tokens=30, eos_token_id=[], prefix_cache=prefix)
    assert out.new_tokens == base.new_tokens
    assert out.stats.reused_prefix_tokens == len(prompt) - 1
    # With the prompt's features the head drafts from the first step, the tree a from-scratch
    # recomputation gives (in float64, so that no near-tie can flip).
    assert plain.log[0][1] == [] and warm.log[0][1]
    model64, head64 = _float64(trained)
    warm64 = Recording(head64, total_tokens=12, depth=2, top_k=4)
    prefix64 = PrefixCache.prefill(model64, prompt[:-1], feature_layers=layers)
    specscale.generate(model64, prompt, drafter=warm64, max_new_tokens=3, eos_token_id=[], prefix_cache=prefix64)
    features, _ = target_features(model64, prompt, layers)
    with torch.no_grad():
        assert tuple(warm64.log[0][1:]) == _reference_tree(head64, features, prompt, min(12, warm64.budgets[0]), 2, 4)
    # A prefix without features is still lossless (the head then sees less context).
    bare = PrefixCache.prefill(model, prompt[:-1])
    out = specscale.generate(model, prompt, drafter=Eagle3Drafter(head), max_new_tokens=30, eos_token_id=[], prefix_cache=bare)
    assert out.new_tokens == base.new_tokens


def test_returned_cache_keeps_every_committed_tokens_features(trained):
    model, head = trained
    layers = default_feature_layers(2)
    prompt = PROMPTS[2]
    out = specscale.generate(model, prompt, drafter=Eagle3Drafter(head), max_new_tokens=25, eos_token_id=[], return_cache=True)
    cache = out.cache
    assert cache is not None and cache.feature_layers == layers
    expected, _ = target_features(model, cache.tokens, layers)
    torch.testing.assert_close(cache.features, expected, rtol=1e-4, atol=1e-4)
    # The next round starts from it and drafts at once.
    follow = prompt + out.new_tokens + [7, 8]
    drafter = Recording(head)
    again = specscale.generate(model, follow, drafter=drafter, max_new_tokens=10, eos_token_id=[], prefix_cache=cache)
    assert again.new_tokens == reference_greedy(model, follow, 10, eos_token_id=[])


def test_sampling_with_eagle_is_reproducible_and_uses_drafts(trained):
    model, head = trained
    runs = [
        specscale.generate(model, PROMPTS[0], drafter=Eagle3Drafter(head), max_new_tokens=30, eos_token_id=[], temperature=0.7, seed=5)
        for _ in range(2)
    ]
    assert runs[0].new_tokens == runs[1].new_tokens
    assert runs[0].stats.accepted_draft_tokens > 0


def test_draft_vocabulary_maps_through_d2t():
    model = tiny_model("llama", scale=4.0)
    head = random_head(model, seed=4, draft_vocab_size=40)
    with torch.no_grad():
        head.d2t.copy_(torch.arange(40))  # draft id i is target id 2i
    drafter = Recording(head)
    for prompt in PROMPTS:
        out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=20, eos_token_id=[])
        assert out.new_tokens == reference_greedy(model, prompt, 20, eos_token_id=[])
    drafted = [t for _, tokens, _ in drafter.log for t in tokens]
    assert drafted and all(t % 2 == 0 for t in drafted)


def test_checkpoint_round_trip_in_the_published_layout(tmp_path, trained):
    model, head = trained
    head.save_pretrained(tmp_path / "eagle3")
    config = json.loads((tmp_path / "eagle3" / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLMEagle3"]
    assert config["draft_vocab_size"] == 96
    state = load_file(str(tmp_path / "eagle3" / "model.safetensors"))
    h = 32
    assert state["fc.weight"].shape == (h, 3 * h)
    assert state["midlayer.self_attn.q_proj.weight"].shape == (4 * 8, 2 * h)
    assert state["midlayer.self_attn.k_proj.weight"].shape == (2 * 8, 2 * h)
    assert state["lm_head.weight"].shape == (96, h)
    assert state["d2t"].dtype == torch.int64 and state["t2d"].dtype == torch.bool
    assert {"midlayer.hidden_norm.weight", "midlayer.input_layernorm.weight", "norm.weight", "embed_tokens.weight"} <= set(state)

    loaded = Eagle3Drafter.from_pretrained(tmp_path / "eagle3", target=model)
    a, b = Recording(head), Recording(loaded.head)
    for drafter in (a, b):
        specscale.generate(model, PROMPTS[0], drafter=drafter, max_new_tokens=24, eos_token_id=[])
    assert a.log == b.log


def test_checkpoint_variants_load(tmp_path, trained):
    model, head = trained
    state = {k: v.clone() for k, v in head.state_dict().items()}
    source = tmp_path / "src"
    head.save_pretrained(source)
    config = (source / "config.json").read_text()

    # The reference checkpoints: pytorch_model.bin, no embeddings (the target's are used).
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.json").write_text(config)
    no_embed = {k: v for k, v in state.items() if k != "embed_tokens.weight"}
    torch.save(no_embed, legacy / "pytorch_model.bin")
    loaded = Eagle3DraftHead.from_pretrained(legacy, target=model)
    torch.testing.assert_close(loaded.embed_tokens.weight, model.get_input_embeddings().weight)
    # The config as the reference checkpoints publish it (only these fields), scaled down.
    published = {
        "architectures": ["LlamaForCausalLMEagle3"], "bos_token_id": 0, "eos_token_id": 1, "hidden_act": "silu",
        "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": 2048,
        "model_type": "llama", "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 1,
        "pad_token_id": 0, "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "torch_dtype": "float16",
        "transformers_version": "4.28.1", "use_cache": True, "vocab_size": 96, "draft_vocab_size": 96,
    }
    (legacy / "config.json").write_text(json.dumps(published))
    reference_style = Recording(Eagle3DraftHead.from_pretrained(legacy, target=model))
    original = Recording(loaded)  # the same weights (and the target's embeddings) under our full config
    for drafter in (reference_style, original):
        specscale.generate(model, PROMPTS[1], drafter=drafter, max_new_tokens=16, eos_token_id=[])
    assert reference_style.log == original.log
    with pytest.raises(InvalidArgumentError, match="embed_tokens"):
        Eagle3DraftHead.from_pretrained(legacy)

    # Exporters that prefix "model." and call the layer "layers.0".
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    (renamed / "config.json").write_text(config)
    save_file({"model." + k.replace("midlayer.", "layers.0."): v.contiguous() for k, v in state.items()}, str(renamed / "model.safetensors"))
    loaded = Eagle3DraftHead.from_pretrained(renamed)
    for name, value in loaded.state_dict().items():
        torch.testing.assert_close(value, state[name])


def test_bad_checkpoints_raise_clear_errors(tmp_path, trained):
    model, head = trained
    with pytest.raises(InvalidArgumentError, match="no config.json"):
        Eagle3DraftHead.from_pretrained(tmp_path / "missing")
    head.save_pretrained(tmp_path / "ok")
    state = load_file(str(tmp_path / "ok" / "model.safetensors"))

    wrong = tmp_path / "wrong_shape"
    wrong.mkdir()
    (wrong / "config.json").write_text((tmp_path / "ok" / "config.json").read_text())
    state_bad = dict(state)
    state_bad["fc.weight"] = torch.zeros(32, 64)
    save_file(state_bad, str(wrong / "model.safetensors"))
    with pytest.raises(InvalidArgumentError, match=r"fc.weight has shape \(32, 64\)"):
        Eagle3DraftHead.from_pretrained(wrong)

    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "config.json").write_text((tmp_path / "ok" / "config.json").read_text())
    save_file({**state, "surprise": torch.zeros(1)}, str(extra / "model.safetensors"))
    with pytest.raises(InvalidArgumentError, match="surprise"):
        Eagle3DraftHead.from_pretrained(extra)

    d2t = tmp_path / "d2t"
    d2t.mkdir()
    (d2t / "config.json").write_text((tmp_path / "ok" / "config.json").read_text())
    save_file({**state, "d2t": torch.full((96,), 500, dtype=torch.long)}, str(d2t / "model.safetensors"))
    with pytest.raises(InvalidArgumentError, match="outside the target vocabulary"):
        Eagle3DraftHead.from_pretrained(d2t)

    empty = tmp_path / "no_weights"
    empty.mkdir()
    (empty / "config.json").write_text((tmp_path / "ok" / "config.json").read_text())
    with pytest.raises(InvalidArgumentError, match="no model.safetensors"):
        Eagle3DraftHead.from_pretrained(empty)


def test_a_head_for_another_target_is_refused():
    model = tiny_model("llama")
    other = Eagle3DraftHead(head_config(model, hidden_size=48, target_hidden_size=48)).eval()
    with pytest.raises(InvalidArgumentError, match="hidden size is 32"):
        specscale.generate(model, [3, 4, 5], drafter=Eagle3Drafter(other), max_new_tokens=4)


def test_bad_settings_are_refused():
    head = random_head(tiny_model("llama"))
    with pytest.raises(InvalidArgumentError, match="top_k"):
        Eagle3Drafter(head, top_k=0)
    with pytest.raises(InvalidArgumentError, match="feature_layers"):
        Eagle3Drafter(head, feature_layers=(1, 2))
    with pytest.raises(InvalidArgumentError, match="head must be"):
        Eagle3Drafter(object())  # type: ignore[arg-type]


def test_transformers_assisted_generation_refuses_feature_drafters():
    from specscale.hf import SpecscaleCandidateGenerator

    head = random_head(tiny_model("llama"))
    with pytest.raises(InvalidArgumentError, match="hidden states"):
        SpecscaleCandidateGenerator(Eagle3Drafter(head))


def test_trace_replay_cannot_feed_eagle_and_drafts_nothing():
    head = random_head(tiny_model("llama"))
    out = specscale.generate_from_trace([3, 4, 5], [6, 7, 8, 9], drafter=Eagle3Drafter(head))
    assert out.new_tokens == [6, 7, 8, 9] and out.stats.draft_tokens == 0



def test_chain_only_verification_uses_the_trees_greedy_branch(trained):
    """With tree=False the engine verifies each tree's first chain (the head's greedy path)."""
    model, head = trained
    drafter = Recording(head)
    out = specscale.generate(model, PROMPTS[2], drafter=drafter, max_new_tokens=40, eos_token_id=[], tree=False)
    assert out.new_tokens == reference_greedy(model, PROMPTS[2], 40, eos_token_id=[])
    assert out.stats.accepted_draft_tokens > 0
    # Chains only: every verified draft was a single branch, never longer than the tree's depth.
    assert out.stats.draft_tokens <= sum(1 for _, t, _ in drafter.log if t) * (drafter.depth + 1)
