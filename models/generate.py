#!/usr/bin/env python3
"""Train the models in models/ and export them to ONNX with real tools.

Run with the pinned training stack (models/requirements-train.txt):

    python3 -m venv /tmp/train && /tmp/train/bin/pip install -r models/requirements-train.txt
    /tmp/train/bin/python models/generate.py                # every model
    /tmp/train/bin/python models/generate.py squeezenet     # only the named ones

Everything is seeded, so a rerun with the same packages trains the same
models. The outputs are committed (with their sha256 in models/README.md), so
CI and users never need this stack: a CPU PyTorch install is gigabytes.

After regenerating, run models/reference.py to refresh the onnxruntime
reference outputs in tests/fixtures/.

Every dynamic dimension is named `batch`, so metadata shows `[batch, 4]`
rather than an exporter's generated name.
"""

import argparse
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


def squeezenet(path: Path) -> None:
    """SqueezeNet 1.1 (Iandola et al. 2016; the torchvision architecture,
    written out here so that neither torchvision nor a weight download is
    needed): 1000 ImageNet classes from a 3x224x224 image, 1,235,496
    parameters. Not trained: the weights are random, drawn the way
    torchvision initialises the network, from its own seed. It is a
    realistic-size network for benchmarks; its accuracy is irrelevant."""
    import torch
    from torch import nn

    class Fire(nn.Module):
        def __init__(self, inplanes, squeeze, expand1x1, expand3x3):
            super().__init__()
            self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
            self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
            self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)

        def forward(self, x):
            x = torch.relu(self.squeeze(x))
            return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)

    class SqueezeNet(nn.Module):
        def __init__(self, classes=1000):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
            )
            final_conv = nn.Conv2d(512, classes, kernel_size=1)
            self.classifier = nn.Sequential(
                nn.Dropout(p=0.5), final_conv, nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)),
            )
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    if m is final_conv:
                        nn.init.normal_(m.weight, mean=0.0, std=0.01)
                    else:
                        nn.init.kaiming_uniform_(m.weight)
                    nn.init.constant_(m.bias, 0)

        def forward(self, image):
            return torch.flatten(self.classifier(self.features(image)), 1)

    cnn_export("squeezenet", SqueezeNet, path)


def resnet18(path: Path) -> None:
    """ResNet-18 (He et al. 2016; the torchvision architecture, written out
    like SqueezeNet's): 1000 ImageNet classes from a 3x224x224 image,
    11,689,512 parameters, residual blocks of 3x3 convolutions with batch
    normalisation. Not trained: seeded random weights, initialised as
    torchvision does. The suite's ResNet-class network."""
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            return torch.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self, classes=1000):
            super().__init__()
            layers = [nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                      nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1)]
            inplanes = 64
            for planes, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
                layers += [BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes, 1)]
                inplanes = planes
            self.features = nn.Sequential(*layers)
            self.fc = nn.Linear(512, classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def forward(self, image):
            x = nn.functional.adaptive_avg_pool2d(self.features(image), 1)
            return self.fc(torch.flatten(x, 1))

    cnn_export("resnet18", ResNet18, path)


def mobilenet_v2(path: Path) -> None:
    """MobileNetV2 (Sandler et al. 2018; the torchvision architecture,
    written out): 1000 ImageNet classes from a 3x224x224 image, 3,504,872
    parameters, inverted residual blocks of depthwise 3x3 convolutions with
    ReLU6. Not trained: seeded random weights. Convolutions are initialised
    He-normal over their fan-in, not their fan-out as torchvision does: in
    an untrained network the fan-out rule shrinks every depthwise layer's
    output (its fan-out counts all channels, its fan-in 9 taps), and the
    logits came out near 1e-9, on the way to float32's subnormals, whose
    slow arithmetic a benchmark must not time. The suite's MobileNet-class
    network."""
    import torch
    from torch import nn

    def conv_bn(inp, oup, kernel, stride=1, groups=1, relu6=True):
        layers = [nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups,
                            bias=False), nn.BatchNorm2d(oup)]
        return layers + [nn.ReLU6()] if relu6 else layers

    class InvertedResidual(nn.Module):
        def __init__(self, inp, oup, stride, expand_ratio):
            super().__init__()
            hidden = round(inp * expand_ratio)
            self.use_residual = stride == 1 and inp == oup
            layers = conv_bn(inp, hidden, 1) if expand_ratio != 1 else []
            layers += conv_bn(hidden, hidden, 3, stride, groups=hidden)
            layers += conv_bn(hidden, oup, 1, relu6=False)
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_residual else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self, classes=1000):
            super().__init__()
            layers = conv_bn(3, 32, 3, 2)
            inp = 32
            # expansion t, channels c, repeats n, first stride s
            for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
                for i in range(n):
                    layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                    inp = c
            layers += conv_bn(inp, 1280, 1)
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

        def forward(self, image):
            x = nn.functional.adaptive_avg_pool2d(self.features(image), 1)
            return self.classifier(torch.flatten(x, 1))

    cnn_export("mobilenet_v2", MobileNetV2, path)


def cnn_export(name: str, make, path: Path) -> None:
    """Exports an untrained ImageNet-shaped network built by `make` under
    its own seed, so its weights do not depend on which models ran before.
    In eval mode the exporter folds each batch normalisation into its
    convolution, as it does for a user's trained network."""
    import torch

    torch.manual_seed(SEED)
    net = make()
    parameters = sum(p.numel() for p in net.parameters())
    print(f"{name}: {parameters} parameters (random, seeded; not trained)")
    example = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(SEED))
    torch_export(net, [example], ["image"], ["logits"], path)


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


def iris_zipmap(path: Path) -> None:
    """The forest with ZipMap left in: a model tract cannot run, which
    `wasmodel build` must refuse by naming the operator."""
    model = iris(zipmap=True)
    # skl2onnx lists this model's two opsets in an order that follows
    # Python's string hashing (PYTHONHASHSEED): fix it, default domain first.
    opsets = sorted(model.opset_import, key=lambda o: o.domain)
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    save(model, path)


# Every model, in the order a full run makes them.
GENERATORS = {
    "iris": lambda: save(iris(zipmap=False), MODELS / "iris.onnx"),
    "iris_zipmap": lambda: iris_zipmap(FIXTURES / "iris_zipmap.onnx"),
    "wine_mlp": lambda: wine_mlp(MODELS / "wine_mlp.onnx"),
    "digits_cnn": lambda: digits_cnn(MODELS / "digits_cnn.onnx"),
    "multi_io": lambda: multi_io(MODELS / "multi_io.onnx"),
    "dtypes": lambda: dtypes(MODELS / "dtypes.onnx"),
    "squeezenet": lambda: squeezenet(MODELS / "squeezenet.onnx"),
    "resnet18": lambda: resnet18(MODELS / "resnet18.onnx"),
    "mobilenet_v2": lambda: mobilenet_v2(MODELS / "mobilenet_v2.onnx"),
}
# These draw their initial weights from torch's global generator one after
# another, seeded once: each one's weights depend on those before it having
# run, so naming one reruns (and rewrites, identically) those before it too.
SHARED_TORCH_STREAM = ["wine_mlp", "digits_cnn", "multi_io"]


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help=f"make only these (default: all): {', '.join(GENERATORS)}")
    names = set(parser.parse_args().models or GENERATORS)
    if unknown := sorted(names - set(GENERATORS)):
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(GENERATORS)}")
    for name in SHARED_TORCH_STREAM[::-1]:
        if name in names:
            names.update(SHARED_TORCH_STREAM[:SHARED_TORCH_STREAM.index(name)])

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for name, generate in GENERATORS.items():
        if name in names:
            generate()


if __name__ == "__main__":
    main()
