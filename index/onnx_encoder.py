"""The embedder's transformer exported to ONNX through torch, for the latency-bound path (a question)
of embedders the torch-free encoder (index/bert_encoder.py, used for the packaged MiniLM and any
BERT sentence-transformers folder) cannot run.

torch's eager forward of MiniLM costs ~23 ms for a 13-token question on these 2 cores (370 small
matrix products, each dispatched separately); ONNX Runtime runs the same graph in ~6 ms
(bench/RESULTS.md). The graph is exported once per machine and model from the loaded
sentence-transformers model (torch's dynamo exporter; the older TorchScript exporter produced a
wrong graph for this BERT), checked against torch on probe texts every time it is loaded, and
cached in ``<cache_dir>/onnx/``. Pooling and normalisation stay the model's own modules, so any
model whose first module is a Hugging Face transformer works; for anything else, or if the export
or the check fails, the embedder keeps torch and says why once in the log.

Batch encoding for the index of such a model stays on torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PROBE_TEXTS = [
    "What year did the Normans conquer England?",
    "A longer probe, padded against the first one, so that the attention mask is exercised too.",
]
MAX_DIFFERENCE = 1e-3  # largest |torch - onnx| allowed on a token vector (measured: ~2e-6)

_encoders: dict[tuple[str, str], OnnxTransformer | None] = {}
_encoders_lock = threading.Lock()


class OnnxTransformer:
    """Runs a sentence-transformers model with its first module replaced by an ONNX graph."""

    def __init__(self, model, session, input_names: list[str]):
        self.model = model
        self.session = session
        self.input_names = input_names

    def encode(self, texts: list[str]) -> np.ndarray:
        """Sentence vectors exactly as the model's own modules pool them (not normalised here)."""
        import torch

        features = dict(_preprocess(self.model, texts))
        feed = {name: features[name].numpy().astype(np.int64) for name in self.input_names}
        tokens = self.session.run(None, feed)[0]
        features["token_embeddings"] = torch.from_numpy(tokens)
        with torch.inference_mode():
            for module in list(self.model)[1:]:
                features = module(features)
        return features["sentence_embedding"].float().numpy()

    def largest_difference(self) -> float:
        """max |torch - onnx| over the token vectors of the probe texts."""
        import torch

        features = dict(_preprocess(self.model, PROBE_TEXTS))
        with torch.inference_mode():
            expected = self.model[0](dict(features))["token_embeddings"].float().numpy()
        feed = {name: features[name].numpy().astype(np.int64) for name in self.input_names}
        got = self.session.run(None, feed)[0]
        mask = features["attention_mask"].numpy()[..., None].astype(bool)
        return float(np.abs(np.where(mask, got - expected, 0)).max())


def onnx_encoder(model, model_path: str, cache_dir: Path) -> OnnxTransformer | None:
    """The ONNX twin of ``model`` (exported on first use, then cached), or None if it cannot have one."""
    key = (model_path, str(cache_dir))
    with _encoders_lock:
        if key not in _encoders:
            try:
                _encoders[key] = _load_or_export(model, model_path, Path(cache_dir))
            except Exception as exc:  # export/runtime failures come in many kinds; all mean "use torch"
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                log.warning("question encoder stays on torch (ONNX unavailable: %s)", reason)
                _encoders[key] = None
        return _encoders[key]


def _load_or_export(model, model_path: str, cache_dir: Path) -> OnnxTransformer:
    from index.bert_graph import import_onnxruntime

    onnxruntime = import_onnxruntime()

    first = model[0]
    if not hasattr(first, "auto_model"):
        raise ValueError(f"first module is {type(first).__name__}, not a transformer")
    input_names = [
        name
        for name in ("input_ids", "attention_mask", "token_type_ids")
        if name in _preprocess(model, PROBE_TEXTS[:1])
    ]
    path = cache_dir / "onnx" / f"{_cache_key(first, model_path, input_names)}.onnx"
    if not path.is_file():
        _export(first, model, input_names, path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
    options.log_severity_level = 3
    # no busy-waiting between runs: the LLM shares these cores while a question is answered
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception:  # a damaged cache file: export again, once
        path.unlink(missing_ok=True)
        _export(first, model, input_names, path)
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    encoder = OnnxTransformer(model, session, input_names)
    difference = encoder.largest_difference()
    if not difference <= MAX_DIFFERENCE:
        path.unlink(missing_ok=True)
        raise ValueError(f"exported graph differs from torch by {difference:.2g}")
    return encoder


def _export(first, model, input_names: list[str], path: Path) -> None:
    """torch.onnx (dynamo) export of the transformer, written atomically."""
    import torch

    class TokenVectors(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            named = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.transformer(**{name: named[name] for name in input_names}).last_hidden_state

    features = _preprocess(model, PROBE_TEXTS)
    example = tuple(features[name] for name in input_names)
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=8192)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    log.info("exporting the question encoder to ONNX (once per machine): %s", path)
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), _quiet("torch", "onnx_ir", "onnxscript"):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                TokenVectors(first.auto_model.eval()),
                example,
                None,
                input_names=input_names,
                output_names=["token_embeddings"],
                dynamic_shapes={name: {0: batch, 1: length} for name in input_names},
                opset_version=18,
                dynamo=True,
            )
            program.save(str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _cache_key(first, model_path: str, input_names: list[str]) -> str:
    """Changes when the weights, the exporting libraries or the inputs change."""
    from index.bert_graph import import_onnxruntime

    onnxruntime = import_onnxruntime()
    import torch
    import transformers

    parts = [
        str(Path(model_path).resolve()) if Path(model_path).exists() else model_path,
        torch.__version__,
        transformers.__version__,
        onnxruntime.__version__,
        ",".join(input_names),
    ]
    folder = Path(model_path)
    if folder.is_dir():
        for weights in sorted(folder.rglob("*")):
            if weights.suffix in {".safetensors", ".bin", ".json"}:
                stat = weights.stat()
                parts.append(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}")
    else:  # a hub name: the loaded weights themselves
        digest = hashlib.sha256()
        for tensor in first.auto_model.state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes()[:4096])
        parts.append(digest.hexdigest())
    slug = "".join(c if c.isalnum() else "-" for c in Path(model_path).name)[:40]
    return f"{slug}-{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:16]}"


def _preprocess(model, texts: list[str]) -> dict:
    prepare = getattr(model, "preprocess", None) or model.tokenize
    return prepare(list(texts))


@contextlib.contextmanager
def _quiet(*logger_names: str):
    """The exporter logs hundreds of lines (missing optional operator sets, each graph rewrite)."""
    loggers = [logging.getLogger(name) for name in logger_names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
