#!/usr/bin/env python3
"""Train the models in models/ and export them to ONNX with real tools.

Run with the pinned training stack (models/requirements-train.txt):

    python3 -m venv /tmp/train && /tmp/train/bin/pip install -r models/requirements-train.txt
    /tmp/train/bin/python models/generate.py

Everything is seeded, so a rerun with the same packages trains the same
models. The outputs are committed (with their sha256 in models/README.md), so
CI and users never need this stack: a CPU PyTorch install is gigabytes.

After regenerating, run models/reference.py to refresh the onnxruntime
reference outputs in tests/fixtures/.

Every dynamic dimension is named `batch`, so metadata shows `[batch, 4]`
rather than an exporter's generated name.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
FIXTURES = ROOT / "tests" / "fixtures"
SEED = 0


def name_batch_dimension(model: onnx.ModelProto) -> onnx.ModelProto:
    """Name the first dimension of every graph input and output `batch`
    where the exporter left it unnamed or gave it a generated name."""
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
    return model


def save(model: onnx.ModelProto, path: Path) -> None:
    model = name_batch_dimension(model)
    # Clear the producer-specific doc strings that would make the file
    # differ between runs for no reason.
    model.doc_string = ""
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


# -- scikit-learn --------------------------------------------------------------

def iris(zipmap: bool) -> onnx.ModelProto:
    """The default model: a random forest on the iris flowers. (No scaler in
    front: skl2onnx exports StandardScaler as ai.onnx.ml Scaler, which tract
    does not run, and a forest does not need one.)"""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    x, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=SEED)
    forest.fit(x.astype(np.float32), y)
    print(f"iris: training accuracy {forest.score(x.astype(np.float32), y):.3f}")
    return to_onnx(
        forest,
        initial_types=[("features", FloatTensorType([None, 4]))],
        # ZipMap turns probabilities into a list of dicts: a sequence type
        # few runtimes serve. Without it they are a plain [batch, 3] tensor.
        options={id(forest): {"zipmap": zipmap}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )


# -- PyTorch -------------------------------------------------------------------

def torch_export(module, example_inputs, input_names, output_names, path: Path) -> None:
    import torch

    module.eval()
    dynamic_axes = {name: {0: "batch"} for name in input_names + output_names}
    export_path = path.with_suffix(".export.onnx")
    torch.onnx.export(
        module,
        tuple(example_inputs),
        str(export_path),
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        opset_version=17,
        dynamo=False,
    )
    model = onnx.load(export_path)
    export_path.unlink()
    save(model, path)


def train(module, batches, loss_fn, epochs: int, lr: float) -> float:
    import torch

    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    loss = torch.tensor(0.0)
    for _ in range(epochs):
        for inputs, target in batches:
            optimizer.zero_grad()
            loss = loss_fn(module(*inputs), target)
            loss.backward()
            optimizer.step()
    return loss.item()


def wine_mlp(path: Path) -> None:
    """A tabular MLP: 13 wine measurements -> logits over 3 cultivars, with
    the standardisation baked into the network."""
    import torch
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32)
    y = torch.tensor(y)

    class WineMLP(torch.nn.Module):
        def __init__(self, mean, std):
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(13, 32), torch.nn.ReLU(),
                torch.nn.Linear(32, 16), torch.nn.ReLU(),
                torch.nn.Linear(16, 3),
            )

        def forward(self, features):
            return self.layers((features - self.mean) / self.std)

    net = WineMLP(x.mean(0), x.std(0))
    loss = train(net, [((x,), y)], torch.nn.functional.cross_entropy, epochs=300, lr=1e-2)
    accuracy = (net(x).argmax(1) == y).float().mean()
    print(f"wine_mlp: loss {loss:.4f}, training accuracy {accuracy:.3f}")
    torch_export(net, [x[:2]], ["features"], ["logits"], path)


def digits_cnn(path: Path) -> None:
    """A small convolutional network on scikit-learn's 8x8 handwritten digits."""
    import torch
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(y)

    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 4 * 4, 10),
    )
    batches = [((x[i:i + 128],), y[i:i + 128]) for i in range(0, len(x), 128)]
    loss = train(net, batches, torch.nn.functional.cross_entropy, epochs=15, lr=3e-3)
    net.eval()
    accuracy = (net(x).argmax(1) == y).float().mean()
    print(f"digits_cnn: loss {loss:.4f}, training accuracy {accuracy:.3f}")
    torch_export(net, [x[:2]], ["image"], ["logits"], path)


def multi_io(path: Path) -> None:
    """Two inputs of two element types, two outputs: numeric features (f32)
    and a category id (i64, through an embedding) -> a regression score and
    class logits, trained together on a synthetic task."""
    import torch

    generator = torch.Generator().manual_seed(SEED)
    n = 512
    numeric = torch.randn(n, 5, generator=generator)
    category = torch.randint(0, 4, (n,), generator=generator)
    score = (numeric[:, :2].sum(1, keepdim=True) + category.unsqueeze(1) * 0.5).float()
    label = (numeric[:, 0] > 0).long() + (category >= 2).long()

    class MultiIO(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(4, 3)
            self.trunk = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU())
            self.score = torch.nn.Linear(16, 1)
            self.classes = torch.nn.Linear(16, 3)

        def forward(self, numeric, category):
            hidden = self.trunk(torch.cat([numeric, self.embed(category)], dim=1))
            return self.score(hidden), self.classes(hidden)

    net = MultiIO()

    def loss_fn(outputs, targets):
        return (torch.nn.functional.mse_loss(outputs[0], targets[0])
                + torch.nn.functional.cross_entropy(outputs[1], targets[1]))

    loss = train(net, [((numeric, category), (score, label))], loss_fn, epochs=300, lr=1e-2)
    print(f"multi_io: loss {loss:.4f}")
    torch_export(net, [numeric[:2], category[:2]], ["numeric", "category"],
                 ["score", "class_logits"], path)


# -- ONNX by hand ----------------------------------------------------------------

def dtypes(path: Path) -> None:
    """Exercises every element type the interface carries (u8, bool, f64,
    i32 in; f64, i64, bool, i32 out). No trainer exports these types, so the
    graph is written with onnx.helper; onnxruntime still checks its outputs."""
    batch = "batch"
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Cast", ["pixels"], ["pixels_f64"], to=TensorProto.DOUBLE),
            helper.make_node("Mul", ["pixels_f64", "scale"], ["scaled"]),
            helper.make_node("Cast", ["mask"], ["mask_i64"], to=TensorProto.INT64),
            helper.make_node("ReduceSum", ["mask_i64", "axis_1"], ["masked_count"], keepdims=0),
            helper.make_node("Greater", ["pixels", "bright"], ["any_bright_each"]),
            helper.make_node("Cast", ["any_bright_each"], ["bright_i32"], to=TensorProto.INT32),
            helper.make_node("ReduceMax", ["bright_i32"], ["bright_max"], axes=[1], keepdims=0),
            helper.make_node("Cast", ["bright_max"], ["any_bright"], to=TensorProto.BOOL),
            helper.make_node("Add", ["offset", "one"], ["offset_plus_one"]),
        ],
        name="dtypes",
        inputs=[
            helper.make_tensor_value_info("pixels", TensorProto.UINT8, [batch, 4]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, [batch, 4]),
            helper.make_tensor_value_info("scale", TensorProto.DOUBLE, [1]),
            helper.make_tensor_value_info("offset", TensorProto.INT32, [batch]),
        ],
        outputs=[
            helper.make_tensor_value_info("scaled", TensorProto.DOUBLE, [batch, 4]),
            helper.make_tensor_value_info("masked_count", TensorProto.INT64, [batch]),
            helper.make_tensor_value_info("any_bright", TensorProto.BOOL, [batch]),
            helper.make_tensor_value_info("offset_plus_one", TensorProto.INT32, [batch]),
        ],
        initializer=[
            helper.make_tensor("axis_1", TensorProto.INT64, [1], [1]),
            helper.make_tensor("bright", TensorProto.UINT8, [], [200]),
            helper.make_tensor("one", TensorProto.INT32, [], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="wasmodel models/generate.py")
    model.ir_version = 8
    save(model, path)


def main() -> None:
    import torch

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    save(iris(zipmap=False), MODELS / "iris.onnx")
    # The same forest with ZipMap left in: a model tract cannot run, which
    # `wasmodel build` must refuse by naming the operator.
    save(iris(zipmap=True), FIXTURES / "iris_zipmap.onnx")
    wine_mlp(MODELS / "wine_mlp.onnx")
    digits_cnn(MODELS / "digits_cnn.onnx")
    multi_io(MODELS / "multi_io.onnx")
    dtypes(MODELS / "dtypes.onnx")


if __name__ == "__main__":
    main()
