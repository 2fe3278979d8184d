"""Token selection for verification: greedy acceptance and lossless speculative sampling.

Everything here works on a *flattened draft tree*: ``parents[i]`` is the index of node ``i``'s parent
(``-1``: the node hangs off the last context token) and ``logits[0]`` is the target's prediction after the
last context token, ``logits[i + 1]`` its prediction after node ``i``. A chain is the tree whose parents are
``[-1, 0, 1, ...]``.

The walk starts at the root (the last context token) and, at each node, picks the target's next token
from the target's own distribution there; if a child of the node carries that token, the walk moves to
the child, otherwise it stops. The tokens emitted are the accepted draft tokens plus one token of the
target's own. For greedy decoding "the target's token" is the argmax; for sampling it is drawn by
recursive rejection sampling over the node's children, which leaves the distribution of every emitted
token exactly equal to the target's (Leviathan et al. 2023, Alg. 1 with a deterministic draft; SpecInfer's
multi-candidate variant for siblings).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from specscale.trees import children_lists

__all__ = [
    "SamplingParams",
    "children_lists",
    "greedy_accept",
    "process_logits",
    "sample_accept",
]


@dataclass(frozen=True)
class SamplingParams:
    """How the target's logits become a distribution: the same processors, in the same order, as
    ``transformers`` applies for ``do_sample=True`` (temperature, then top-k, then top-p).

    ``temperature == 0`` means greedy decoding (argmax; ``top_k``/``top_p`` are then irrelevant).
    ``top_k == 0`` and ``top_p == 1.0`` disable those filters.
    """

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        from specscale.errors import InvalidArgumentError

        if not isinstance(self.temperature, (int, float)) or self.temperature != self.temperature:
            raise InvalidArgumentError(f"temperature must be a number >= 0, got {self.temperature!r}")
        if self.temperature < 0:
            raise InvalidArgumentError(f"temperature must be >= 0, got {self.temperature!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise InvalidArgumentError(f"top_k must be an int >= 0 (0 disables it), got {self.top_k!r}")
        if not isinstance(self.top_p, (int, float)) or not (0.0 < self.top_p <= 1.0):
            raise InvalidArgumentError(f"top_p must be in (0, 1] (1.0 disables it), got {self.top_p!r}")

    @property
    def greedy(self) -> bool:
        """True when tokens are chosen by argmax."""
        return self.temperature == 0.0


def process_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Apply temperature, top-k and top-p to ``logits`` (shape ``[n, vocab]``) as ``transformers`` does.

    Returns float32 processed logits with filtered entries set to ``-inf``; ``softmax`` of the result is
    the distribution plain sampling draws from. Mirrors ``TemperatureLogitsWarper``,
    ``TopKLogitsWarper`` and ``TopPLogitsWarper`` (``min_tokens_to_keep=1``) so that speculative sampling
    targets exactly the distribution ``model.generate(do_sample=True, ...)`` samples.
    """
    scores = logits.float()
    if params.temperature not in (0.0, 1.0):
        scores = scores / params.temperature
    if params.top_k > 0:
        k = min(params.top_k, scores.size(-1))
        kth = torch.topk(scores, k, dim=-1)[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False, dim=-1)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative <= (1 - params.top_p)
        remove_sorted[..., -1:] = False  # keep at least one token
        remove = remove_sorted.scatter(-1, sorted_indices, remove_sorted)
        scores = scores.masked_fill(remove, float("-inf"))
    return scores


def greedy_accept(
    logits: torch.Tensor, tokens: list[int], children: list[list[int]]
) -> tuple[list[int], int]:
    """Greedy acceptance over a flattened tree.

    Args:
        logits: ``[n_nodes + 1, vocab]`` target logits (row 0: after the context; row ``i + 1``: after node i).
        tokens: the draft token of each node.
        children: from :func:`children_lists`.

    Returns:
        ``(path, next_token)``: the accepted node indices, root to leaf, and the target's own token after
        the last accepted node. The emitted tokens are ``[tokens[i] for i in path] + [next_token]``.
    """
    if logits.device.type == "cpu":
        # On the host, take the argmax of the rows the walk visits only: a row is a whole vocabulary,
        # and a tree's walk visits a few of its rows.
        best = None
    else:
        # On an accelerator, one batched argmax and one copy: a per-row .item() would sync per row.
        best = logits.argmax(dim=-1).tolist()
    path: list[int] = []
    row = 0
    while True:
        target = best[row] if best is not None else int(logits[row].argmax())
        nxt = -1
        for child in children[row]:
            if tokens[child] == target:
                nxt = child
                break
        if nxt < 0:
            return path, target
        path.append(nxt)
        row = nxt + 1


def sample_accept(
    logits: torch.Tensor,
    tokens: list[int],
    children: list[list[int]],
    params: SamplingParams,
    generator: torch.Generator | None = None,
    draft_probs: dict[int, torch.Tensor] | None = None,
) -> tuple[list[int], int]:
    """Lossless speculative sampling over a flattened draft tree.

    At each node, with ``p`` the target's processed distribution there, the children are tried in turn:
    child token ``x`` is accepted with probability ``p(x)``; on rejection ``p`` becomes the residual,
    ``p`` with ``x`` zeroed and renormalized, and the next sibling is tried against it (recursive
    rejection sampling). If every child is rejected, the target's token is drawn from the final residual.
    Each emitted token is therefore distributed exactly as ``p``: ``P(x1) = p(x1)``, and given a rejection
    the rest is drawn from ``p`` conditioned on ``!= x1``, and so on. That holds for any draft chosen
    independently of these draws, sampled ones included.

    A node that was *sampled* from a known draft distribution ``q`` (``draft_probs[node]``, a
    ``[vocab]`` tensor) is accepted with probability ``min(1, p(x) / q(x))`` instead, and on rejection
    ``p`` becomes ``max(p - q, 0)`` renormalized: speculative sampling proper (Leviathan et al. 2023,
    Chen et al. 2023), exact and with higher acceptance when ``q`` is close to ``p``. It applies to a node
    that is its parent's only child (SpS chains); the deterministic rule (``q`` a point mass on ``x``) is
    the same formula.

    Args and returns are as in :func:`greedy_accept`; ``generator`` seeds the draws (CPU generator).
    """
    # Processed on the logits' device; only the rows the walk visits come to the host (a row is a
    # vocabulary's worth of float64: copying all n + 1 rows would cost more than the walk).
    probs_all = process_logits(logits, params).softmax(dim=-1)
    path: list[int] = []
    row = 0
    while True:
        p = probs_all[row].to("cpu", torch.float64, copy=True)
        accepted = -1
        seen: set[int] = set()
        siblings = children[row]
        q = draft_probs.get(siblings[0]) if draft_probs and len(siblings) == 1 else None
        if q is not None:
            x = tokens[siblings[0]]
            q = q.to("cpu", torch.float64)
            if q.shape[0] != p.shape[0]:  # a draft model's padded vocabulary: compare over the target's
                q = torch.nn.functional.pad(q[: p.shape[0]], (0, max(0, p.shape[0] - q.shape[0])))
            px, qx = float(p[x]), float(q[x])
            if qx > 0.0 and torch.rand((), generator=generator, dtype=torch.float64).item() < min(1.0, px / qx):
                path.append(siblings[0])
                row = siblings[0] + 1
                continue
            residual = (p - q).clamp_(min=0.0)
            total = float(residual.sum())
            # p <= q everywhere means p == q: a rejection had probability 0; fall back to p itself.
            p = residual / total if total > 0.0 else p
            token = int(torch.multinomial(p.float(), 1, generator=generator).item())
            return path, token
        for child in siblings:
            x = tokens[child]
            if x in seen:  # a duplicate sibling was already rejected: p(x) is 0 in the residual
                continue
            seen.add(x)
            px = float(p[x])
            if px > 0.0 and torch.rand((), generator=generator, dtype=torch.float64).item() < px:
                accepted = child
                break
            # Rejected: continue against the residual p(. | != x).
            if px > 0.0:
                p[x] = 0.0  # p is this walk's own host copy: edit in place
                total = float(p.sum())
                if total <= 0.0:
                    # p was (numerically) a point mass on x and the draw still missed it: a
                    # probability-zero event in exact arithmetic; emit x, the only token p allows.
                    accepted = child
                    break
                p /= total
        if accepted >= 0:
            path.append(accepted)
            row = accepted + 1
            continue
        token = int(torch.multinomial(p.float(), 1, generator=generator).item())
        return path, token
