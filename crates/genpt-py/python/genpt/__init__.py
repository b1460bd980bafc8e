"""genpt from Python: GPT-1 (Radford et al., 2018) and GPT-2 on genpt's Rust core.

The exact tokenizers (GPT-1's release pipeline, GPT-2's byte-level BPE), per-token scoring,
hidden states and generation, fine-tuned classifiers, and pre-training and fine-tuning through
the command line's own code::

    import genpt
    tok = genpt.Tokenizer.load("models/books-lm")
    lm = genpt.LanguageModel.load("models/books-lm")
    lm.score("The cat sat on the mat.")          # log p of each next token
    "".join(lm.generate("Once upon a time", max_new_tokens=20, temperature=0))
    clf = genpt.Classifier.load("runs/sst2/best")
    labels, probabilities = clf.predict(["a gem of a film", "a dull mess"])

Errors genpt reports are ``genpt.GenptError`` with its message (file and line for bad input);
Ctrl-C stops a long call (training at its next update, leaving a run that ``resume=True``
continues) with ``KeyboardInterrupt``.
"""

from ._genpt import (
    BUILD_COMMIT,
    Classifier,
    GenptError,
    Generation,
    LanguageModel,
    Tokenizer,
    __version__,
    train_tokenizer,
)
from ._training import Run, finetune, prepare, pretrain

__all__ = [
    "BUILD_COMMIT",
    "Classifier",
    "GenptError",
    "Generation",
    "LanguageModel",
    "Run",
    "Tokenizer",
    "__version__",
    "finetune",
    "prepare",
    "pretrain",
    "train_tokenizer",
]
