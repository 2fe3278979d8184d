"""A few seconds of EAGLE-3 head training on a tiny target, so tests can show a head that the target
accepts often (random weights prove losslessness, not that features reach the head correctly)."""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from specscale.drafters.eagle import Eagle3DraftHead
from transformers import LlamaConfig


def head_config(target, draft_vocab_size=None, **overrides) -> LlamaConfig:
    """A head config shaped for ``target`` (same hidden size and vocabulary)."""
    config = target.config.get_text_config()
    hidden = config.hidden_size
    fields = dict(
        vocab_size=config.vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-6,
        draft_vocab_size=draft_vocab_size or config.vocab_size,
    )
    fields.update(overrides)
    return LlamaConfig(**fields)


def random_head(target, seed=0, **overrides) -> Eagle3DraftHead:
    torch.manual_seed(seed)
    return Eagle3DraftHead(head_config(target, **overrides)).eval()


def target_features(model, tokens, layers):
    """Features of every position (inputs of ``layers``, concatenated) and the logits, in one plain pass."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor([tokens]), output_hidden_states=True)
    return torch.cat([out.hidden_states[i][0] for i in layers], dim=-1), out.logits[0]


def greedy_sequences(model, count, length, vocab, seed=0):
    rng = random.Random(seed)
    sequences = []
    for _ in range(count):
        prompt = [rng.randrange(2, vocab) for _ in range(4)]
        ids = torch.tensor([prompt])
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=length, do_sample=False,
                                 eos_token_id=None, pad_token_id=0)
        sequences.append(out[0].tolist())
    return sequences


def fit_head(model, head, layers, sequences, steps=200, lr=3e-3, seed=0):
    """Train ``head`` to predict the target's greedy token two positions ahead of each feature (the first
    draft step) and, feeding its own output back, three ahead (the second), as EAGLE-3 is trained.

    A head with a reduced draft vocabulary learns the targets its ``d2t`` map covers (others are ignored)."""
    torch.manual_seed(seed)
    vocab = model.config.get_text_config().vocab_size
    to_draft = torch.full((vocab,), -100, dtype=torch.long)  # target id -> draft id (-100: not drafted)
    draft_ids = torch.arange(head.draft_vocab_size)
    to_draft[head.to_target_ids(draft_ids)] = draft_ids
    data = [(seq, *target_features(model, seq, layers)) for seq in sequences]
    head.train()
    optimizer = torch.optim.Adam([p for n, p in head.named_parameters() if n != "embed_tokens.weight"], lr=lr)
    attn = head.midlayer.self_attn
    for step in range(steps):
        tokens, features, logits = data[step % len(data)]
        n = len(tokens) - 1
        empty = torch.zeros((1, attn.num_kv_heads, 0, attn.head_dim))
        causal = torch.ones((n, n), dtype=torch.bool).tril()
        greedy = logits.argmax(-1)  # the target's token after each position
        targets = to_draft[greedy]
        out, k1, v1 = head.step(torch.tensor(tokens[1:]), head.fuse(features[:-1]), torch.arange(n), (empty, empty), causal)
        loss = F.nll_loss(head.log_probs(out), targets[1:], ignore_index=-100)
        # Second step, as at drafting time: the node at position t + 1 holds the head's own output at t and
        # the token a correct first draft holds; it sees the first step's pairs up to t and itself.
        seen = torch.zeros((n - 1, 2 * n - 1), dtype=torch.bool)
        seen[:, :n] = causal[: n - 1]
        seen[:, n:] = torch.eye(n - 1, dtype=torch.bool)
        out2, _, _ = head.step(greedy[1:n], out[: n - 1], torch.arange(1, n), (k1, v1), seen)
        loss = loss + 0.5 * F.nll_loss(head.log_probs(out2), targets[2:], ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head.eval()
