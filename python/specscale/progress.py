"""Progress output for long commands: the one helper every command uses.

On a terminal it draws a tqdm bar (when tqdm is installed). Anywhere else (a log file, CI, a pipe) it
prints plain lines, without the carriage returns and cursor escapes (``\\x1b[A``) a bar leaves in a
log: one line at most every ``interval`` seconds, and the last one when the work is done. With
``enabled=False`` it prints nothing.

Only one bar is shown at a time: callers start theirs after any one-time work whose own output would
otherwise nest inside it (a model's conversion, say), so the first rate and ETA measure the real work.

Example::

    with Progress(total=len(problems), desc="replay sam", unit="problem") as bar:
        for problem in problems:
            ...
            bar.update(1)
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["Progress", "library_bars_on_terminal_only"]


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Counts work done out of ``total`` and shows it (see the module docstring).

    Args:
        total: units of work in all, ``initial`` of them already done (a resumed run).
        desc: what is running, printed first on every line.
        unit: what one unit of work is, in the singular (``"problem"``, ``"generation"``).
        stream: where to write (default ``sys.stderr``).
        enabled: ``False`` shows nothing.
        interval: seconds between plain lines (the bar redraws as tqdm sees fit).
    """

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str,
        initial: int = 0,
        stream: TextIO | None = None,
        enabled: bool = True,
        interval: float = 15.0,
    ) -> None:
        self.total = total
        self.n = initial
        self.desc = desc
        self.unit = unit
        self.interval = interval
        self._initial = initial
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = enabled
        self._postfix = ""
        self._start = time.perf_counter()
        self._last_line = self._start
        self._closed = False
        self._bar: Any = None
        if enabled and _is_terminal(self._stream):
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(
                    total=total, initial=initial, desc=desc, unit=unit, file=self._stream, dynamic_ncols=True
                )

    def update(self, n: int = 1) -> None:
        """``n`` more units are done."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._enabled and time.perf_counter() - self._last_line >= self.interval:
            self._line()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        """What is running now (shown after the counts)."""
        self._postfix = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=refresh)

    def close(self) -> None:
        """Ends the bar, or prints the last plain line. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self._enabled:
            self._postfix = ""
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self) -> None:
        now = time.perf_counter()
        self._last_line = now
        elapsed = now - self._start
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        text = f"{self.desc}: {self.n}/{self.total} {self.unit}s{share}, {_clock(elapsed)} elapsed"
        done_here = self.n - self._initial
        if 0 < done_here and self.n < self.total:
            text += f", about {_clock(elapsed / done_here * (self.total - self.n))} left"
        if self._postfix:
            text += f" [{self._postfix}]"
        print(text, file=self._stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without isatty
        return False



@contextmanager
def library_bars_on_terminal_only(stream: TextIO | None = None) -> Iterator[None]:
    """Within the block, transformers draws its own bars (loading weights, converting a GGUF file) only
    when ``stream`` (default stderr) is a terminal: in a log each redraw would be one more line."""
    if _is_terminal(stream if stream is not None else sys.stderr):
        yield
        return
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    # The GGUF conversion draws a plain tqdm bar, which transformers' switch does not reach.
    gguf: Any = None
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf
    except Exception:  # noqa: BLE001 (an optional path of transformers: no bar to silence)
        gguf = None
    plain_tqdm = getattr(gguf, "tqdm", None)
    if plain_tqdm is not None:
        gguf.tqdm = functools.partial(plain_tqdm, disable=True)
    try:
        yield
    finally:
        if plain_tqdm is not None:
            gguf.tqdm = plain_tqdm
        if was_enabled:
            hf_logging.enable_progress_bar()
