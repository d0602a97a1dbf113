"""The op allow-list admits what a small GRU, MLP or attention Transformer exports to.

Another model can replace today's without touching the allow-list, as long as it is
exported the way the bake exports (torch's legacy exporter, opset 17, constants folded).
"""

from __future__ import annotations

import io
import warnings

import pytest

from adaptive._onnx_check import check_policy, inspect_onnx

torch = pytest.importorskip("torch")
nn = torch.nn

pytestmark = pytest.mark.slow  # imports torch and exports three models (a few seconds)


def _export(module: nn.Module, args: tuple, names: list[str], dynamic: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), args, buffer, input_names=names, opset_version=17,
            dynamic_axes=dynamic, do_constant_folding=True, dynamo=False,
        )  # fmt: skip
    return buffer.getvalue()


class _Gru(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed, self.gru, self.out = nn.Embedding(200, 16), nn.GRU(24, 32), nn.Linear(32, 200)

    def forward(self, token, cond, hidden):  # type: ignore[no-untyped-def]
        x = torch.cat([self.embed(token), cond], -1).unsqueeze(0)
        y, h = self.gru(x, hidden.unsqueeze(0))
        return self.out(y[0]).log_softmax(-1), h[0]


class _Transformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed, self.pos = nn.Embedding(200, 32), nn.Parameter(torch.zeros(64, 32))
        layer = nn.TransformerEncoderLayer(
            32, 4, 64, batch_first=True, activation="gelu", dropout=0.0
        )
        self.layers = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.attend = nn.MultiheadAttention(32, 4, batch_first=True)
        self.out = nn.Linear(32, 200)

    def forward(self, tokens, cache):  # type: ignore[no-untyped-def]
        n = tokens.shape[1]
        x = self.embed(tokens) + self.pos[:n]
        x = self.layers(x, mask=torch.triu(torch.full((n, n), float("-inf")), 1))
        kv = torch.cat([cache, x], 1)  # a KV cache carried between steps
        y, _ = self.attend(x, kv, kv)
        y = nn.functional.layer_norm(y + torch.softmax(x @ kv.transpose(1, 2), -1) @ kv, (32,))
        return self.out(y[:, -1]).softmax(-1), kv[:, -8:]


def _mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4), nn.Sigmoid(),
        nn.LayerNorm(4), nn.GELU(), nn.ELU(), nn.Softplus(), nn.LeakyReLU(0.2),
    )  # fmt: skip


def test_gru_mlp_and_transformer_exports_pass_the_policy() -> None:
    models = {
        "gru": _export(
            _Gru(),
            (torch.zeros(1, dtype=torch.long), torch.zeros(1, 8), torch.zeros(1, 32)),
            ["token", "cond", "hidden"],
        ),
        "transformer": _export(
            _Transformer(),
            (torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 3, 32)),
            ["tokens", "cache"],
            {"tokens": {1: "n"}, "cache": {1: "m"}},
        ),
        "mlp": _export(_mlp(), (torch.zeros(2, 8),), ["x"], {"x": {0: "K"}}),
    }
    for name, data in models.items():
        facts = inspect_onnx(data)
        check_policy(facts)  # raises OnnxPolicyError naming the first refused operator
        assert facts.nodes > 3, name
