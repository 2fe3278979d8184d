"""Prompts of the test-time-scaling drivers: chat templates, the round-k template, the thinking budget's
closing sentence, and the final answer of a response."""

from __future__ import annotations

from typing import Any, Literal

from specscale.errors import InvalidArgumentError

__all__ = [
    "DEFAULT_ROUND_TEMPLATE",
    "DEFAULT_THINK_END",
    "DEFAULT_VERIFY_INSTRUCTION",
    "FEEDBACK",
    "SPECTTS_ROUND_TEMPLATE",
    "SPECTTS_THINK_END",
    "THINK_CLOSE",
    "build_prompt_ids",
    "final_answer_text",
    "round_prompt",
    "text_ids",
    "think_close_ids",
]

#: The sentence injected to close the think block when the thinking budget runs out.
DEFAULT_THINK_END = "\n\nConsidering the limited time, I have to give the solution based on the thinking directly now.\n</think>\n\n"

#: Round ``k >= 2`` prompt: ``{question}`` is the problem's prompt, ``{answer}`` the previous round's final
#: answer (the text after its think block).
DEFAULT_ROUND_TEMPLATE = (
    "{question}\n\nAn earlier attempt at this problem gave the following answer:\n\n{answer}\n\n"
    "Verify this answer step by step. If it is wrong, correct it. Then answer the question again, "
    "putting the final answer within \\boxed{{}}."
)

#: SpecTTS-Bench's round-2 prompt (its code's wording): the question, then this, with ``{answer}`` the text
#: after the previous round's last ``</think>`` as written (use with ``feedback="after-think"``).
SPECTTS_ROUND_TEMPLATE = (
    "{question}\nPreviously I tried to solve the problem. Now I need to double check and verify my previous "
    "answer and re-answer the question. My previous answer is: <answer> {answer} </answer>, and please re-answer."
)

#: SpecTTS-Bench's thinking-budget sentence for Qwen3 (its code injects these tokens; for DeepSeek-R1
#: distills it injects only "\n\n</think>\n\n").
SPECTTS_THINK_END = (
    "Considering the limited time by the user, I have to give the solution based on the thinking directly now."
    "\n</think>.\n\n"
)

#: What a round ``k >= 2`` sees of the round before (see :func:`round_prompt`).
FEEDBACK = ("answer", "after-think", "conversation")

#: The new user turn of a round ``k >= 2`` with ``feedback="conversation"``.
DEFAULT_VERIFY_INSTRUCTION = (
    "Verify your answer step by step. If it is wrong, correct it. Then answer the question again, "
    "putting the final answer within \\boxed{}."
)

THINK_CLOSE = "</think>"


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None)) and hasattr(tokenizer, "apply_chat_template")


def _ids(tokenizer: Any, text: str) -> list[int]:
    encoded = tokenizer(text, add_special_tokens=True)
    ids = encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded
    return [int(t) for t in ids]


def build_prompt_ids(
    tokenizer: Any,
    messages: str | list[dict[str, str]],
    chat_template: bool | Literal["auto"] = "auto",
    system_prompt: str | None = None,
) -> list[int]:
    """Token ids of a prompt: the chat template with the generation prompt where the tokenizer has one
    (and ``chat_template`` allows it), else the plain text of the messages joined by blank lines."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    use_chat = _has_chat_template(tokenizer) if chat_template == "auto" else bool(chat_template)
    if use_chat:
        if not _has_chat_template(tokenizer):
            raise InvalidArgumentError("chat_template=True but the tokenizer has no chat template")
        full = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + list(messages)
        ids = tokenizer.apply_chat_template(full, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        if ids and isinstance(ids[0], list):
            ids = ids[0]
        return [int(t) for t in ids]
    text = "\n\n".join(([system_prompt] if system_prompt else []) + [m["content"] for m in messages])
    return _ids(tokenizer, text)


def final_answer_text(text: str) -> str:
    """The text after the think block (after the last ``</think>``) when there is one, else all of it."""
    at = text.rfind(THINK_CLOSE)
    return (text[at + len(THINK_CLOSE) :] if at >= 0 else text).strip()


def think_close_ids(tokenizer: Any) -> list[int] | None:
    """``</think>`` as one token id (``[id]``) when the tokenizer has it as a token, else None."""
    try:
        tid = tokenizer.convert_tokens_to_ids(THINK_CLOSE)
    except Exception:  # noqa: BLE001 - tokenizers differ; absent means absent
        return None
    unk = getattr(tokenizer, "unk_token_id", None)
    if isinstance(tid, int) and tid >= 0 and tid != unk:
        return [tid]
    return None


def round_prompt(
    problem: Any, previous_text: str | None, template: str = DEFAULT_ROUND_TEMPLATE, feedback: str = "answer"
) -> str:
    """Round 1: the problem's prompt. Round ``k >= 2``: ``template`` with the question and what the
    previous round answered.

    ``feedback="answer"``: its final answer, the text after its think block, stripped (all of it when it
    has no think block). ``feedback="after-think"`` (SpecTTS-Bench): the text after its last ``</think>``
    exactly as written, and the question alone when there is no ``</think>`` or nothing after it.
    """
    if previous_text is None:
        return problem.prompt
    if feedback == "after-think":
        text = previous_text.strip()
        at = text.rfind(THINK_CLOSE)
        answer = text[at + len(THINK_CLOSE) :] if at >= 0 else ""
        if not answer:
            return problem.prompt
        return template.format(question=problem.prompt, answer=answer)
    return template.format(question=problem.prompt, answer=final_answer_text(previous_text))


def text_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (text injected into a running context)."""
    encoded = tokenizer(text, add_special_tokens=False)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return [int(t) for t in ids]
