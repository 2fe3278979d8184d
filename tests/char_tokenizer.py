"""A character-level tokenizer stand-in for the tiny random models (vocab 96, no downloads).

Id 0 is BOS/pad, 1 is EOS, ``2 + i`` is the printable ASCII character ``chr(32 + i)`` (95 of them);
``</think>`` is not a token, and there is no chat template, so the drivers use plain prompts.
"""

from __future__ import annotations

from typing import Any


class CharTokenizer:
    vocab_size = 97
    eos_token_id = 1
    bos_token_id = 0
    pad_token_id = 0
    unk_token_id = None
    chat_template = None

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [2 + (ord(c) - 32) if 32 <= ord(c) < 127 else 2 for c in text if c != "\n"] or [2]

    def __call__(self, text: str, add_special_tokens: bool = True, **_: Any) -> dict[str, list[int]]:
        return {"input_ids": self.encode(text, add_special_tokens)}

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        out = []
        for t in ids:
            t = int(t)
            if t >= 2 and t - 2 < 95:
                out.append(chr(32 + t - 2))
            elif not skip_special_tokens:
                out.append("<s>" if t == 0 else "</s>")
        return "".join(out)

    def convert_tokens_to_ids(self, token: str) -> int | None:
        return None


def save_char_tokenizer(directory: Any) -> Any:
    """The same character vocabulary as a real ``transformers`` fast tokenizer saved in ``directory``
    (``AutoTokenizer.from_pretrained`` loads it offline), for tests that go through ``--model DIR``."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<s>": 0, "</s>": 1} | {chr(32 + i): 2 + i for i in range(95)}
    core = Tokenizer(models.WordLevel(vocab, unk_token=" "))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<s>")
    fast.save_pretrained(directory)
    return fast
