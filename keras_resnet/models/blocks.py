"""Shared block factories: tensor in, tensor out, every layer named.

Every model in the package is assembled from these functions, so that two
variants of a network differ only in the arguments they pass (for example
``use_skip``) and keep identical names for every layer they share. Per-layer
measurements (gradient norms, weights) can therefore be joined by name.

Conventions follow the CIFAR ResNets of He et al. (2016, "Deep Residual
Learning for Image Recognition"): 3x3 convolutions without bias followed by
batch normalization, projection shortcuts (1x1 conv + BN) only where the
stride or the width changes, and only the first block of a stage strides.
The family blocks (pre-activation, grouped bottleneck, dense layer and
transition) follow the same naming scheme.

Every block takes ``normalization``: ``"batch"`` (the default, the networks
of the papers) or ``"none"``, which drops every BatchNormalization layer and
gives every convolution a bias instead (nothing normalizes its output any
more, so nothing else supplies the per-channel offset). The two variants keep
the same name for every layer they share (all convolutions, activations and
the classifier), so measurements of a network with and without BN join by
layer name too.

Initialization is the same He-normal (fan-in) kernel in both cases, with zero
biases. Without BN it is what keeps a plain ReLU network's activations and
gradients at a constant scale from layer to layer (He et al., 2015,
"Delving Deep into Rectifiers", Eq. 10: variance ``2 / fan_in``); with BN the
scale of the kernel hardly matters, so the package's long-standing default
stays. Residual branches are *not* rescaled: a block ``x + F(x)`` without BN
roughly doubles the activation variance, so a deep residual net without BN
grows its activations and its early-layer gradients with depth (Zhang et
al., 2019, "Fixup Initialization"). That is deliberate: skip and no-skip
variants share every initializer, so the shortcut is the only difference an
ablation measures. Fixup (scale the last convolution of each branch by
``L ** (-1 / (2m - 2))``, zero-init the classifier) or a zero-initialized
last convolution per branch are the usual remedies for *training* such nets;
neither is implemented here.
"""

from __future__ import annotations

from keras import layers

from keras_resnet._validation import fail
from keras_resnet.models.catalog import NORMALIZATIONS
from keras_resnet.models.layers import BatchNormalization

# PyTorch's BatchNorm defaults (momentum 0.1 there is 0.9 here), which the
# reference CIFAR implementations and their parameter counts assume.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
# He et al. (2015): truncated normal with variance 2 / fan_in, for ReLU nets.
KERNEL_INITIALIZER = "he_normal"


POOLING_MODES = (None, "avg", "max")


def check_normalization(normalization) -> None:
    """Raise ``ValueError`` unless ``normalization`` is one of ``NORMALIZATIONS``."""
    if not isinstance(normalization, str) or normalization not in NORMALIZATIONS:
        choices = ", ".join(repr(value) for value in NORMALIZATIONS)
        fail("normalization", normalization, f"must be one of {choices}")


def conv_bn_act(
    x,
    filters: int,
    *,
    name: str,
    kernel_size: int = 3,
    strides: int = 1,
    use_bias: bool = False,
    batch_norm: bool = True,
    activation: str | None = "relu",
    normalization: str = "batch",
):
    """Convolution, batch normalization and activation.

    Layers are named ``{name}_conv``, ``{name}_bn`` and ``{name}_relu`` (the
    suffix is the activation's name). BN is inserted only with
    ``batch_norm`` and ``normalization="batch"``; with ``"none"`` the
    convolution always has a bias.

    Args:
        x: Input tensor, channels last.
        filters: Number of output channels.
        name: Prefix for every layer name.
        kernel_size: Square kernel size.
        strides: Convolution stride.
        use_bias: Whether the convolution has a bias (redundant before BN,
            kept on by VGG-style networks).
        batch_norm: Whether to insert batch normalization.
        activation: Activation name, or None for none.
        normalization: ``"batch"`` or ``"none"`` (no BN anywhere).

    Returns:
        The output tensor.
    """
    x = _conv(
        x,
        filters,
        kernel_size,
        strides,
        name=f"{name}_conv",
        normalization=normalization,
        use_bias=use_bias,
    )
    if batch_norm:
        x = _norm(x, name=f"{name}_bn", normalization=normalization)
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def cifar_stem(
    x,
    filters: int,
    *,
    name: str = "stem",
    kernel_size: int = 3,
    normalize: bool = True,
    normalization: str = "batch",
):
    """CIFAR stem: one stride-1 conv-BN-ReLU, no max-pool.

    ImageNet ResNets open with a 7x7/2 conv and a max-pool; on 32x32 inputs
    that would discard three quarters of the resolution at once.

    Args:
        x: Input tensor.
        filters: Output channels.
        name: Prefix for the layer names (``stem_conv``, ``stem_bn``, ...).
        kernel_size: Kernel size (3; the CIFAR ResNeXt uses 1).
        normalize: With False the stem is a bare convolution, as in
            pre-activation networks whose first block normalizes its input.
        normalization: ``"batch"`` or ``"none"`` (conv-ReLU, conv with bias).

    Returns:
        The output tensor.
    """
    return conv_bn_act(
        x,
        filters,
        name=name,
        kernel_size=kernel_size,
        batch_norm=normalize,
        activation="relu" if normalize else None,
        normalization=normalization,
    )


def bn_relu(x, *, name: str, suffix: str = "", normalization: str = "batch"):
    """Batch normalization then ReLU: ``{name}_bn{suffix}``, ``{name}_relu{suffix}``.

    With ``normalization="none"`` only the ReLU.
    """
    x = _norm(x, name=f"{name}_bn{suffix}", normalization=normalization)
    return layers.Activation("relu", name=f"{name}_relu{suffix}")(x)


def basic_block(
    x,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    use_skip: bool = True,
    normalization: str = "batch",
):
    """Basic residual block: two 3x3 conv-BN, shortcut, add, ReLU.

    Layers: ``{name}_conv1``, ``{name}_bn1``, ``{name}_relu1``,
    ``{name}_conv2``, ``{name}_bn2``, then (with ``use_skip``)
    ``{name}_shortcut_conv`` / ``{name}_shortcut_bn`` where the stride or the
    width changes and ``{name}_add``, and finally ``{name}_out`` (ReLU).

    Args:
        x: Input tensor.
        filters: Output channels of both convolutions.
        name: Prefix for every layer name.
        strides: Stride of the first convolution (and of the projection).
        use_skip: With False the block has neither shortcut, projection nor
            Add: a plain two-layer stack that keeps every other layer name.
        normalization: ``"batch"``, or ``"none"``: no BN layer, every
            convolution with a bias.

    Returns:
        The output tensor.
    """
    norm = {"normalization": normalization, "name": name}
    y = _conv_norm_relu(x, filters, 3, strides, index=1, **norm)
    y = _conv_norm_relu(y, filters, 3, 1, index=2, relu=False, **norm)
    return _add_shortcut(x, y, filters, strides, use_skip=use_skip, **norm)


def bottleneck_block(
    x,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    expansion: int = 4,
    groups: int = 1,
    width: int | None = None,
    use_skip: bool = True,
    normalization: str = "batch",
):
    """Bottleneck residual block: 1x1 reduce, 3x3, 1x1 expand, shortcut, add.

    The output has ``filters * expansion`` channels. The 3x3 convolution has
    ``width`` channels (default ``filters``) split into ``groups`` groups,
    which gives the ResNeXt block (Xie et al., 2017) with ``groups > 1``.
    The stride sits on the 3x3 convolution ("ResNet v1.5").

    Args:
        x: Input tensor.
        filters: Bottleneck channels (before expansion).
        name: Prefix for every layer name.
        strides: Stride of the 3x3 convolution and of the projection.
        expansion: Output channels are ``filters * expansion``.
        groups: Groups of the 3x3 convolution.
        width: Channels of the inner convolutions; defaults to ``filters``.
        use_skip: With False there is no shortcut, projection or Add.
        normalization: ``"batch"`` or ``"none"`` (see ``basic_block``).

    Returns:
        The output tensor.
    """
    norm = {"normalization": normalization, "name": name}
    width = filters if width is None else width
    out_filters = filters * expansion
    y = _conv_norm_relu(x, width, 1, 1, index=1, **norm)
    y = _conv_norm_relu(y, width, 3, strides, index=2, groups=groups, **norm)
    y = _conv_norm_relu(y, out_filters, 1, 1, index=3, relu=False, **norm)
    return _add_shortcut(x, y, out_filters, strides, use_skip=use_skip, **norm)


def preact_block(
    x,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    dropout: float = 0.0,
    use_skip: bool = True,
    normalization: str = "batch",
):
    """Pre-activation basic block: BN-ReLU-conv, BN-ReLU-conv, add.

    He et al. (2016, "Identity Mappings in Deep Residual Networks") move BN
    and ReLU before each convolution so that the shortcut path is a pure
    identity from block to block. Where stride or width changes, the
    shortcut is a 1x1 convolution (no BN) of the pre-activated input, which
    is what both branches then share. ``dropout`` between the convolutions
    gives the Wide ResNet block (Zagoruyko & Komodakis, 2016).

    Layers: ``{name}_bn1``, ``{name}_relu1``, ``{name}_conv1``, optional
    ``{name}_dropout``, ``{name}_bn2``, ``{name}_relu2``, ``{name}_conv2``,
    then (with ``use_skip``) ``{name}_shortcut_conv`` where the shape
    changes and ``{name}_add``. There is no activation after the add.

    Args:
        x: Input tensor.
        filters: Output channels of both convolutions.
        name: Prefix for every layer name.
        strides: Stride of the first convolution (and of the projection).
        dropout: Dropout rate between the convolutions (0 for none).
        use_skip: With False there is no shortcut, projection or Add.
        normalization: ``"batch"``, or ``"none"``: ReLU-conv twice, every
            convolution with a bias.

    Returns:
        The output tensor.
    """
    norm = {"normalization": normalization}
    y = bn_relu(x, name=name, suffix="1", **norm)
    needs_projection = strides != 1 or x.shape[-1] != filters
    shortcut = y if needs_projection else x
    y = _conv(y, filters, 3, strides, name=f"{name}_conv1", **norm)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = bn_relu(y, name=name, suffix="2", **norm)
    y = _conv(y, filters, 3, 1, name=f"{name}_conv2", **norm)
    if not use_skip:
        return y
    shortcut = _shortcut(
        shortcut, filters, strides, name=name, batch_norm=False, **norm
    )
    return layers.Add(name=f"{name}_add")([shortcut, y])


def dense_layer(
    x,
    growth_rate: int,
    *,
    name: str,
    bottleneck_width: int,
    normalization: str = "batch",
):
    """DenseNet-BC layer: BN-ReLU-1x1 conv, BN-ReLU-3x3 conv, concatenate.

    The ``growth_rate`` new channels are appended to the input channels
    (Huang et al., 2017), so the output has ``x.shape[-1] + growth_rate``
    channels. Layers: ``{name}_bn1``, ``{name}_relu1``, ``{name}_conv1``
    (``bottleneck_width`` channels), ``{name}_bn2``, ``{name}_relu2``,
    ``{name}_conv2``, ``{name}_concat``.

    Args:
        x: Input tensor.
        growth_rate: Channels added by the layer.
        name: Prefix for every layer name.
        bottleneck_width: Channels of the 1x1 convolution (4 x growth rate
            in DenseNet-BC).
        normalization: ``"batch"`` or ``"none"`` (ReLU-conv, with biases).

    Returns:
        The output tensor.
    """
    norm = {"normalization": normalization}
    y = bn_relu(x, name=name, suffix="1", **norm)
    y = _conv(y, bottleneck_width, 1, 1, name=f"{name}_conv1", **norm)
    y = bn_relu(y, name=name, suffix="2", **norm)
    y = _conv(y, growth_rate, 3, 1, name=f"{name}_conv2", **norm)
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def dense_block(
    x,
    growth_rate: int,
    layers_count: int,
    *,
    name: str,
    bottleneck_width: int,
    normalization: str = "batch",
):
    """``layers_count`` dense layers named ``{name}_block1`` ... (see ``dense_layer``).

    The output has ``x.shape[-1] + layers_count * growth_rate`` channels.
    """
    for index in range(1, layers_count + 1):
        x = dense_layer(
            x,
            growth_rate,
            name=f"{name}_block{index}",
            bottleneck_width=bottleneck_width,
            normalization=normalization,
        )
    return x


def transition_block(x, filters: int, *, name: str, normalization: str = "batch"):
    """DenseNet transition: BN-ReLU, 1x1 conv to ``filters``, 2x2 average pool.

    Layers: ``{name}_bn``, ``{name}_relu``, ``{name}_conv``, ``{name}_pool``
    (no ``{name}_bn`` with ``normalization="none"``).
    """
    x = bn_relu(x, name=name, normalization=normalization)
    x = _conv(x, filters, 1, 1, name=f"{name}_conv", normalization=normalization)
    return layers.AveragePooling2D(2, name=f"{name}_pool")(x)


def stage(
    x,
    block,
    filters: int,
    blocks: int,
    *,
    name: str,
    strides: int = 1,
    **block_kwargs,
):
    """A stage of ``blocks`` residual blocks; only the first one strides.

    Blocks are named ``{name}_block1`` ... ``{name}_block{blocks}``.

    Args:
        x: Input tensor.
        block: A block function such as ``basic_block``.
        filters: Filters passed to every block.
        blocks: Number of blocks.
        name: Stage name, e.g. ``"stage2"``.
        strides: Stride of the first block.
        **block_kwargs: Passed to every block (e.g. ``use_skip``,
            ``normalization``).

    Returns:
        The output tensor.
    """
    for index in range(1, blocks + 1):
        x = block(
            x,
            filters,
            name=f"{name}_block{index}",
            strides=strides if index == 1 else 1,
            **block_kwargs,
        )
    return x


def classifier_head(
    x,
    *,
    include_top: bool,
    pooling: str | None,
    num_classes: int,
    classifier_activation: str | None,
    dropout: float = 0.0,
):
    """Pooling and classifier, following keras.applications.

    With ``include_top`` the features are globally average-pooled and fed to
    a dense layer ``fc``; the activation layer ``predictions`` always
    computes in float32, so logits and probabilities stay float32 under a
    mixed-precision policy. Without ``include_top`` the output is the feature
    map (``pooling=None``) or its global average / max pool.
    """
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        x = layers.Dense(num_classes, name="fc")(x)
        return layers.Activation(
            classifier_activation or "linear", dtype="float32", name="predictions"
        )(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def _conv(
    x,
    filters: int,
    kernel_size: int,
    strides: int,
    *,
    name: str,
    normalization: str,
    groups: int = 1,
    use_bias: bool = False,
):
    """A "same" convolution; without BN in the network it always has a bias."""
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=use_bias or normalization == "none",
        groups=groups,
        kernel_initializer=KERNEL_INITIALIZER,
        name=name,
    )(x)


def _conv_norm_relu(
    x,
    filters: int,
    kernel_size: int,
    strides: int,
    *,
    name: str,
    index: int,
    normalization: str,
    groups: int = 1,
    relu: bool = True,
):
    """``{name}_conv{index}``, ``{name}_bn{index}`` (+ ``{name}_relu{index}``)."""
    norm = {"normalization": normalization}
    y = _conv(
        x,
        filters,
        kernel_size,
        strides,
        name=f"{name}_conv{index}",
        groups=groups,
        **norm,
    )
    y = _norm(y, name=f"{name}_bn{index}", **norm)
    return layers.Activation("relu", name=f"{name}_relu{index}")(y) if relu else y


def _add_shortcut(
    x, y, filters: int, strides: int, *, name: str, use_skip: bool, normalization: str
):
    """``y`` plus the shortcut of ``x`` (with ``use_skip``), then ``{name}_out``."""
    if use_skip:
        shortcut = _shortcut(
            x, filters, strides, name=name, normalization=normalization
        )
        y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def _norm(x, *, name: str, normalization: str):
    """BatchNormalization named ``name``, or ``x`` unchanged without BN."""
    if normalization == "none":
        return x
    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)


def _shortcut(
    x,
    filters: int,
    strides: int,
    *,
    name: str,
    normalization: str,
    batch_norm: bool = True,
):
    """Identity, or a 1x1 conv (+ BN) projection where stride or width changes."""
    if strides == 1 and x.shape[-1] == filters:
        return x
    x = _conv(
        x,
        filters,
        1,
        strides,
        name=f"{name}_shortcut_conv",
        normalization=normalization,
    )
    if not batch_norm:
        return x
    return _norm(x, name=f"{name}_shortcut_bn", normalization=normalization)


def scaled(filters: int, width_multiplier: float, divisor: int = 1) -> int:
    """Filters scaled by ``width_multiplier``, a multiple of ``divisor`` (>= it).

    ``divisor`` keeps grouped convolutions valid: their channels must split
    evenly into the groups.
    """
    return max(divisor, int(round(filters * width_multiplier / divisor)) * divisor)


__all__ = [
    "NORMALIZATIONS",
    "POOLING_MODES",
    "basic_block",
    "bn_relu",
    "bottleneck_block",
    "check_normalization",
    "cifar_stem",
    "classifier_head",
    "conv_bn_act",
    "dense_block",
    "dense_layer",
    "preact_block",
    "scaled",
    "stage",
    "transition_block",
]
