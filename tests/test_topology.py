"""The house rules: one topology reader, one role table, adapters that do not import each other."""

import ast
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

import hwprune
import hwprune.keras
from hwprune.keras import deadunits, roles, topology
from hwprune.keras.layers import describe_layers, resolve_units

keras = tf.keras
SRC = pathlib.Path(hwprune.__file__).parent


def _imports(path: pathlib.Path) -> list[tuple[str, ast.AST]]:
    """(absolute module name, node) of every import in a module, relative ones resolved."""
    package = '.'.join(('hwprune',) + path.relative_to(SRC).with_suffix('').parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split('.')[: len(package.split('.')) - node.level + 1] if node.level else []
            module = '.'.join(base + ([node.module] if node.module else []))
            found += [(module, node)] + [(f'{module}.{alias.name}', node) for alias in node.names]
    return found


def test_keras_internals_are_touched_in_two_modules_only():
    private = re.compile(r'\._(inbound_nodes|outbound_nodes|nodes_by_depth|keras_history|is_graph_network|constraint|'
                         r'callable_losses|steps_per_execution|flatten_layers)\b')
    offenders = sorted(str(p.relative_to(SRC)) for p in SRC.rglob('*.py') if private.search(p.read_text())
                       and p.name not in ('topology.py', 'hooks.py'))
    assert offenders == []


def test_adapters_do_not_import_each_other():
    hls_to_keras = [(str(p.relative_to(SRC)), m) for p in (SRC / 'hls').glob('*.py') for m, _ in _imports(p)
                    if m.startswith('hwprune.keras')]
    assert {path for path, _ in hls_to_keras} <= {'hls/convert.py'}
    keras_to_hls = [(str(p.relative_to(SRC)), m) for p in (SRC / 'keras').glob('*.py') for m, _ in _imports(p)
                    if m.startswith('hwprune.hls')]
    assert keras_to_hls == []
    core = [p for p in SRC.glob('*.py') if p.name not in ('__init__.py', 'cli.py', 'pipeline.py')]
    core += list((SRC / 'targets').glob('*.py'))
    to_adapters = [(str(p.relative_to(SRC)), m) for p in core for m, _ in _imports(p)
                   if m.startswith(('hwprune.keras', 'hwprune.hls', 'tensorflow', 'keras'))]
    assert to_adapters == []


def test_strip_is_the_function_after_any_import_order():
    import importlib
    importlib.import_module('hwprune.keras.strip')
    model = keras.Sequential([keras.layers.Dense(3, input_shape=(2,)), keras.layers.Dense(1)])
    assert hwprune.keras.strip(model).layers[0].units == 3
    assert hwprune.keras.strip(model).layers[0].units == 3  # the second call used to find the module
    assert hwprune.strip(model).layers[0].units == 3


def functional_model():
    inputs = keras.Input((6, 6, 3))
    a = keras.layers.Conv2D(4, 3, activation='relu', name='a')(inputs)
    b = keras.layers.BatchNormalization(name='bn')(a)
    c = keras.layers.DepthwiseConv2D(3, padding='same', name='dw')(b)
    d = keras.layers.Add(name='add')([b, c])
    e = keras.layers.Flatten(name='flat')(d)
    f = keras.layers.Dense(5, name='f')(e)
    out = keras.layers.Activation('softmax', name='soft')(f)
    return keras.Model(inputs, out)


def test_graph_queries():
    model = functional_model()
    graph = topology.read_graph(model)
    names = lambda layers: [layer.name for layer in layers]  # noqa: E731
    assert names(graph.parents(model.get_layer('add'))) == ['bn', 'dw']
    assert names(graph.children(model.get_layer('bn'))) == ['dw', 'add']
    assert names(graph.output_layers()) == ['soft']
    assert graph.input_shape(model.get_layer('dw')) == (4, 4, 4)
    assert graph.output_shape(model.get_layer('f')) == (5,)
    assert graph.input_shape(model.get_layer('add')) is None  # two inputs


def test_units_resolve_producers_outputs_and_shapes_once():
    model = functional_model()
    units = {u.name: u for u in resolve_units(model)}
    assert list(units) == ['a', 'dw', 'f']
    assert units['f'].info.inputs == ('a', 'dw') and units['f'].is_output
    assert not units['a'].is_output
    assert units['dw'].info.input_shape == (4, 4, 4) and units['dw'].info.kind == 'depthwise2d'
    assert [i.name for i in describe_layers(model, ['dw'])] == ['dw']
    with pytest.raises(TypeError, match=r"a list of layer names, e.g. \['dw'\]"):
        resolve_units(model, 'dw')


def test_separable_units_carry_their_hls4ml_split():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.SeparableConv2D(4, 3, name='sep')(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    depthwise, pointwise = describe_layers(model)
    assert (depthwise.name, depthwise.layer, depthwise.part) == ('sep_depthwise', 'sep', 'depthwise')
    assert (pointwise.name, pointwise.layer, pointwise.part) == ('sep_pointwise', 'sep', 'pointwise')
    assert pointwise.inputs == ('sep_depthwise',) and pointwise.input_shape == (6, 6, 3)


def test_one_elementwise_rule_for_strip_and_dead_unit_folding():
    """A custom activation may mix channels: neither strip nor the callback folds through it."""
    def mix(x):
        return x + tf.reduce_mean(x, axis=-1, keepdims=True)

    assert not roles.is_elementwise(mix)
    inputs = keras.Input((4,))
    a = keras.layers.Dense(3, name='a')(inputs)
    m = keras.layers.Activation(mix, name='mix')(a)
    r = keras.layers.Activation('relu', name='relu')(a)
    b = keras.layers.Dense(2, name='b')(m)
    c = keras.layers.Dense(2, name='c')(r)
    model = keras.Model(inputs, [b, c])
    assert roles.role_of(model.get_layer('mix')) == 'barrier'
    assert roles.role_of(model.get_layer('relu')) == 'elementwise'
    assert deadunits.find_links(topology.read_graph(model), ['a', 'b', 'c']) == []  # `a` feeds two layers
    chain = keras.Sequential([keras.layers.Dense(3, input_shape=(4,), name='a'), keras.layers.Activation(mix),
                              keras.layers.Dense(2, name='b')])
    assert deadunits.find_links(topology.read_graph(chain), ['a', 'b']) == []
    kernel, bias = chain.layers[0].get_weights()
    kernel[:, 0] = 0.0
    chain.layers[0].set_weights([kernel, bias + 1.0])
    assert hwprune.strip(chain).layers[0].units == 3  # a constant through `mix` is not a dead unit


def test_registered_layers_get_a_role_and_subclasses_that_compute_otherwise_do_not_prune():
    assert roles.role_of(keras.layers.Conv2DTranspose(2, 3)) == 'barrier'
    assert hwprune.keras.specs_for(keras.layers.Conv2DTranspose) == ()

    class MyDense(keras.layers.Layer):
        pass

    hwprune.keras.register_layer(MyDense, 'dense', kernel='w')
    assert roles.class_role(MyDense) == 'weight'
    with pytest.raises(ValueError, match='role'):
        roles.register_role(MyDense, 'whatever')


def test_called_shapes_of_subclassed_models():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(3)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.ones((1, 4), np.float32))
    assert topology.graph_or_none(net) is None
    unit, = resolve_units(net)
    assert unit.info.kernel_shape == (4, 3) and unit.info.inputs == ()
