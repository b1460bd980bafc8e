"""Type stubs of genpt's native module (crates/genpt-py/src)."""

from os import PathLike
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

_Path = Union[str, PathLike]
_Ids = Union[npt.NDArray[np.integer], Sequence[int]]

__version__: str
BUILD_COMMIT: str

class GenptError(Exception):
    """An error genpt reports: bad input (with its file and line where it has one), a model or
    tokenizer that does not load, a run that cannot resume."""

class Tokenizer:
    """A tokenizer: ``Tokenizer.load(dir)`` reads a directory of vocabulary files."""

    @staticmethod
    def load(path: _Path) -> Tokenizer:
        """Reads the tokenizer in ``path``: the original GPT-1 release's files
        (``encoder_bpe_40000.json`` + ``vocab_40000.bpe``), GPT-2's (``encoder.json`` +
        ``vocab.bpe``), Hugging Face's (``vocab.json`` + ``merges.txt``), or one genpt trained."""
    @property
    def kind(self) -> str:
        """``"gpt1"`` (ftfy, standardise, spaCy-style split, lowercase, BPE) or ``"gpt2"``
        (byte-level BPE)."""
    @property
    def vocab_size(self) -> int:
        """Tokens in the vocabulary (special tokens not counted)."""
    @property
    def eot_id(self) -> Optional[int]:
        """The id of ``<|endoftext|>`` (GPT-2), else None."""
    @property
    def path(self) -> Path:
        """The directory it was read from."""
    def token_id(self, piece: str) -> Optional[int]:
        """The id of one vocabulary piece (``"the</w>"`` for GPT-1, ``"Ġthe"`` for GPT-2)."""
    def encode(self, text: str) -> npt.NDArray[np.uint32]:
        """The ids of ``text``. Special tokens in the text are encoded as ordinary text."""
    def encode_batch(self, texts: Sequence[str]) -> List[npt.NDArray[np.uint32]]:
        """The ids of every text, encoded in parallel on all cores (``RAYON_NUM_THREADS``,
        set before importing genpt, limits the threads)."""
    def pieces(self, text: str) -> List[str]:
        """The vocabulary pieces of ``text``."""
    def decode(self, ids: _Ids) -> str:
        """The text of ``ids``. GPT-1 text comes back lowercased and split into words."""

def train_tokenizer(files: Sequence[_Path], out: _Path, merges: int = 40000) -> Tokenizer:
    """Learns a GPT-1-style vocabulary of ``merges`` merges from text files (or directories of
    them), writes it to ``out`` (``genpt tokenizer train``) and returns it."""

class LanguageModel:
    """A GPT-1 or GPT-2 language model with its tokenizer: ``LanguageModel.load(dir)``."""

    @staticmethod
    def load(
        path: _Path,
        precision: str = "fp32",
        backend: str = "flex",
        tokenizer: Optional[_Path] = None,
        n_head: int = 12,
    ) -> LanguageModel:
        """Loads Hugging Face's layout (``config.json`` + ``model.safetensors``) or the original
        release's (``params_*.npy``) with its tokenizer. ``precision="bf16"`` rounds the linear
        layers' weights to bf16. ``backend``: ``"flex"`` (CPU), or another backend genpt was
        built with (``"ndarray"``, a GPU backend). ``n_head``: for the release's layout, which does not record it."""
    @property
    def tokenizer(self) -> Tokenizer: ...
    @property
    def config(self) -> Dict[str, Any]:
        """arch, vocab_size, n_positions, n_embd, n_layer, n_head, ..."""
    @property
    def precision(self) -> str: ...
    @overload
    def score(self, texts: str) -> npt.NDArray[np.float32]: ...
    @overload
    def score(self, texts: Sequence[str]) -> List[npt.NDArray[np.float32]]: ...
    def score(self, texts: Union[str, Sequence[str]]) -> Any:
        """log p(token t+1 | tokens ..t) of each text (n-1 values for n tokens), in eval mode:
        one array for one str, a list of arrays for a list."""
    def score_ids(self, ids: _Ids) -> npt.NDArray[np.float32]:
        """``score`` of token ids instead of text."""
    def hidden_states(self, text: Union[str, _Ids]) -> npt.NDArray[np.float32]:
        """The last layer's hidden states (after GPT-2's final LayerNorm), [tokens, n_embd]."""
    def generate(
        self,
        prompt: Union[str, _Ids],
        max_new_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
        stop: Optional[Sequence[str]] = None,
        clean_up: Optional[bool] = None,
    ) -> Generation:
        """Continues ``prompt`` (text or token ids) as an iterator of text pieces. ``temperature`` 0 is greedy;
        ``top_k`` 0 and ``top_p`` 1.0 keep every token; ``seed`` makes sampling repeatable.
        Ends after ``max_new_tokens``, at ``<|endoftext|>``, or before the first of ``stop``.
        GPT-1 text gets transformers' clean-up (``" ."`` → ``"."``) unless ``clean_up`` is
        False."""

class Generation(Iterator[str]):
    """Text pieces of a continuation, one model step per piece."""

    def __iter__(self) -> Generation: ...
    def __next__(self) -> str: ...
    @property
    def tokens(self) -> npt.NDArray[np.uint32]:
        """The token ids made so far."""

class Classifier:
    """A fine-tuned classifier (``genpt finetune``'s ``OUT/best``): ``Classifier.load(dir)``."""

    @staticmethod
    def load(path: _Path, backend: str = "flex") -> Classifier: ...
    @property
    def task(self) -> str: ...
    @property
    def labels(self) -> List[str]:
        """Class labels, in the order of the probabilities' columns."""
    @property
    def input(self) -> str:
        """``"text"``, ``"pair"`` or ``"choices"``: what each input of ``predict`` is."""
    def predict(
        self, inputs: Sequence[Union[str, Tuple[str, str], Dict[str, Any]]]
    ) -> Tuple[Any, Optional[npt.NDArray[np.float32]]]:
        """``(labels, probabilities [inputs, classes])``; ``(scores, None)`` for regression."""

def run_command(
    argv: Sequence[str], progress: Optional[Callable[[str, int, int, str], None]] = None
) -> None:
    """Runs ``genpt ARGV...`` in-process (the command line's own code), Ctrl-C honoured."""

def pretrain_run_dir(config: _Path, overrides: Sequence[str]) -> Path:
    """The run directory of a pre-training configuration with ``KEY=VALUE`` overrides."""

def _panic(message: str) -> None:
    """Panics in Rust (the tests' check that a panic is an exception, never an abort)."""
