"""Pre-training and fine-tuning from Python through the ``genpt`` command line's own code.

Each call builds the arguments ``genpt pretrain`` or ``genpt finetune`` would get and runs them
in-process (``_genpt.run_command``): the same configuration checks, checkpoints and outputs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _genpt

PathLike = Union[str, Path]


@dataclass
class Run:
    """What a training call leaves: its run directory, the model directory to load, and its
    metrics (pre-training: the records of ``metrics.jsonl``; fine-tuning: ``metrics.json``)."""

    run_dir: Path
    model: Optional[Path]
    metrics: Any = field(repr=False)


def _toml_value(value: Any) -> str:
    """A Python value as the TOML literal ``--set KEY=VALUE`` takes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot pass {type(value).__name__} as a configuration value")


def _progress_printer(enabled: bool) -> Optional[Callable[[str, int, int, str], None]]:
    """A progress callback: tqdm's bar (notebooks included) when tqdm is installed, else one
    line on stderr every 5% of the run."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    state: Dict[str, Any] = {"bar": None, "label": None, "printed": -1}

    def show(label: str, done: int, total: int, message: str) -> None:
        if tqdm is not None:
            bar = state["bar"]
            if bar is None or state["label"] != label:
                if bar is not None:
                    bar.close()
                bar = state["bar"] = tqdm(total=total, initial=done, desc=label)
                state["label"] = label
            bar.update(done - bar.n)
            if message:
                bar.set_postfix_str(message)
            if done >= total:
                bar.close()
            return
        every = max(total // 20, 1)
        if done == total or done // every != state["printed"] // every:
            state["printed"] = done
            print(f"{label} {done}/{total} {message}", file=sys.stderr, flush=True)

    return show


def _options(options: Dict[str, Any]) -> List[str]:
    """Keyword arguments as command-line options: ``lm_coef=0.5`` → ``--lm-coef 0.5``;
    ``True`` → the flag alone; ``False`` and ``None`` → nothing."""
    argv: List[str] = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv.append(flag)
            argv.extend(str(v) for v in value)
        else:
            argv.extend([flag, str(value)])
    return argv


def prepare(
    corpus: Union[PathLike, Sequence[PathLike]],
    tokenizer: PathLike,
    out: PathLike,
    *,
    strip_gutenberg: bool = False,
    val_fraction: float = 0.05,
    progress: bool = True,
) -> Path:
    """Tokenizes text files (or directories of ``*.txt``) into the token shards pre-training
    reads (``genpt prepare``), holding out ``val_fraction`` of the documents for validation.
    Returns ``out``, the ``data.dir`` of a pre-training configuration."""
    files = [corpus] if isinstance(corpus, (str, Path)) else list(corpus)
    argv = ["prepare", "--corpus", *[str(f) for f in files]]
    argv += ["--tokenizer", str(tokenizer), "--out", str(out)]
    argv += _options({"strip_gutenberg": strip_gutenberg, "val_fraction": val_fraction})
    _genpt.run_command(argv, _progress_printer(progress))
    return Path(out)


def pretrain(
    config: PathLike,
    *,
    resume: bool = False,
    until: Optional[int] = None,
    init: Optional[PathLike] = None,
    backend: Optional[str] = None,
    precision: Optional[str] = None,
    progress: bool = True,
    **overrides: Any,
) -> Run:
    """Generative pre-training (``genpt pretrain --config CONFIG``).

    ``overrides`` set configuration keys, a double underscore standing for the dot:
    ``train__steps=200`` is ``--set train.steps=200``. ``resume`` continues from the newest
    checkpoint; ``until`` stops after that update (checkpointed); ``init`` starts from a model
    directory (continued pre-training). Ctrl-C stops after the update in progress, checkpointed,
    and raises ``KeyboardInterrupt``: ``resume=True`` continues.

    Returns the run directory, the newest checkpoint (a model directory
    ``LanguageModel.load`` reads) and the records of ``metrics.jsonl``.
    """
    sets = [f"{key.replace('__', '.')}={_toml_value(value)}" for key, value in overrides.items()]
    argv = ["pretrain", "--config", str(config)]
    for s in sets:
        argv.extend(["--set", s])
    argv += _options(
        {"resume": resume, "until": until, "init": init, "backend": backend, "precision": precision}
    )
    run_dir = Path(_genpt.pretrain_run_dir(str(config), sets))
    _genpt.run_command(argv, _progress_printer(progress))
    checkpoints = sorted((run_dir / "checkpoints").glob("step-*"))
    metrics_file = run_dir / "metrics.jsonl"
    metrics = []
    if metrics_file.exists():
        metrics = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    return Run(run_dir=run_dir, model=checkpoints[-1] if checkpoints else None, metrics=metrics)


def _finetune_argv(out: PathLike, task: str, options: Dict[str, Any]) -> List[str]:
    return ["finetune", "--out", str(out), "--task", task] + _options(options)


def finetune(
    out: PathLike,
    *,
    model: Optional[PathLike] = None,
    task: str = "custom",
    progress: bool = True,
    **options: Any,
) -> Run:
    """Discriminative fine-tuning (``genpt finetune --out OUT ...``).

    Every option of ``genpt finetune --help`` is a keyword argument, underscores for dashes:
    ``finetune("runs/reviews", model="models/books-lm", kind="classification",
    train="train.csv", dev="dev.csv", epochs=3, lm_coef=0.5)``. ``resume=True`` continues an
    interrupted run from its last whole epoch. Ctrl-C stops before the next update and raises
    ``KeyboardInterrupt``.

    Returns the run directory, the best model (``Classifier.load`` reads it) and
    ``metrics.json``.
    """
    argv = _finetune_argv(out, task, {"model": model, **options})
    _genpt.run_command(argv, _progress_printer(progress))
    out = Path(out)
    metrics_file = out / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else None
    best = out / "best"
    return Run(run_dir=out, model=best if best.exists() else None, metrics=metrics)
