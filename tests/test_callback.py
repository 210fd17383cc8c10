"""The HardwarePruning callback, through the public API."""

import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import hwprune
from hwprune.keras.topology import KERAS3
from hwprune.layouts import dsp_layout
from stack import qkeras_module
from hwprune.targets import FPGALayerSettings, FPGATarget

keras = tf.keras


def data(n=512, features=16, classes=5, seed=0):
    w = np.random.default_rng(1234).normal(size=(features, classes))  # one labelling rule for every split
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype('float32')
    y = np.argmax(x @ w + 0.3 * rng.normal(size=(n, classes)), axis=1)
    return x, y


def dense_model(seed=0, optimizer='adam'):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.layers.Dense(32, activation='relu', input_shape=(16,), name='fc1'),
        keras.layers.Dense(16, activation='relu', name='fc2'),
        keras.layers.Dense(5, activation='softmax', name='out'),
    ])
    model.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    return model


def target(rf=2, strategy='resource'):
    return FPGATarget(default=FPGALayerSettings(reuse_factor=rf, strategy=strategy))


def kernels(model):
    return {l.name: l.kernel.numpy() for l in model.layers if hasattr(l, 'kernel')}


def test_regularizer_adds_exactly_its_value_to_the_loss():
    x, y = data(256)
    model = dense_model(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    plain = model.evaluate(x, y, batch_size=256, verbose=0)[0]
    cb = hwprune.HardwarePruning(target(strategy='resource_unrolled'), budget=hwprune.ConstantBudget(1.0, begin=5),
                                 regularization=0.01, verbose=0)
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen['reg'] = cb.regularization_value()

    history = model.fit(x, y, batch_size=256, epochs=1, shuffle=False, callbacks=[cb, Probe()], verbose=0)
    assert seen['reg'] > 0
    assert history.history['loss'][0] == pytest.approx(plain + seen['reg'], rel=1e-5)
    # the group-lasso value is lambda * sum_g sqrt(|g|) ||w_g||
    manual = 0.0
    for name, k in kernels(model).items():
        layout = dsp_layout('dense', k.shape, 2)
        manual += np.sum(np.sqrt(layout.sizes()) * np.sqrt(layout.reduce(k.astype(np.float64) ** 2)))
    assert seen['reg'] == pytest.approx(0.01 * manual, rel=1e-4)
    # and it is gone after training: the model is a plain Keras model again
    assert model.losses == []
    assert model.evaluate(x, y, batch_size=256, verbose=0)[0] == pytest.approx(plain, rel=1e-6)


def test_regularization_strength_is_a_variable():
    x, y = data(128)
    model = dense_model()
    cb = hwprune.HardwarePruning(target(), budget=1.0, regularization=0.0, verbose=0)

    class Bump(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            cb.regularization_strength = 0.5 if epoch == 1 else 0.0

    history = model.fit(x, y, epochs=2, batch_size=128, callbacks=[cb, Bump()], verbose=0)
    assert history.history['loss'][1] > history.history['loss'][0] + 0.1  # traced once, value changed


@pytest.mark.parametrize('optimizer', [lambda: keras.optimizers.SGD(0.1, momentum=0.9),
                                       lambda: keras.optimizers.Adam(0.01),
                                       pytest.param(lambda: keras.optimizers.legacy.Adam(0.01),
                                                    marks=pytest.mark.skipif(KERAS3, reason='Keras 2 only'))])
def test_masked_weights_stay_exactly_zero_after_every_update(optimizer, tmp_path):
    x, y = data(512)
    model = dense_model(optimizer=optimizer())
    cb = hwprune.HardwarePruning(target(), budget=hwprune.ConstantBudget(0.4, begin=0, end=0), verbose=0)
    masks_seen = []

    class Check(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            for entry in cb.layers_:
                k = entry.kernel.numpy()
                mask = entry.mask.numpy()
                masks_seen.append(mask.copy())
                assert np.all(k[mask == 0] == 0.0)

    ckpt = keras.callbacks.ModelCheckpoint(str(tmp_path / 'w_{epoch}.weights.h5'), save_weights_only=True)
    model.fit(x, y, epochs=3, batch_size=64, callbacks=[cb, Check(), ckpt], verbose=0)
    assert any((m == 0).any() for m in masks_seen)
    assert cb.usage()['DSP'] <= 0.4 * cb.initial_usage[0] + 1e-9
    # every checkpoint holds the zeros
    final_masks = [e.mask.numpy() for e in cb.layers_]
    for epoch in (1, 2, 3):
        restored = dense_model()
        restored.load_weights(str(tmp_path / f'w_{epoch}.weights.h5'))
        for layer, mask in zip(restored.layers, final_masks):
            assert np.all(layer.kernel.numpy()[mask == 0] == 0.0)


def test_regrowth_lets_pruned_weights_train_and_win_their_place_back():
    x, y = data(512)
    model = dense_model(optimizer=keras.optimizers.Adam(0.02))  # pruned weights move far within an epoch
    budget = hwprune.PolynomialBudget(final=0.3, initial=0.5, begin=0, end=3)
    cb = hwprune.HardwarePruning(target(strategy='latency'), budget=budget, regrowth=True, regularization=0.0,
                                 verbose=0)
    seen = {'moved': 0, 'revived': 0, 'over': 0}
    previous = {}

    class Check(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # runs after hwprune's step (hwprune is first)
            for entry in cb.layers_:
                mask = entry.mask.numpy()
                if entry.info.name in previous:  # kept now, pruned at the step before
                    seen['revived'] += int(np.sum((mask != 0) & (previous[entry.info.name] == 0)))
                previous[entry.info.name] = mask
                assert np.all(entry.kernel.numpy()[mask == 0] == 0.0)  # each step zeroes what it prunes

        def on_epoch_end(self, epoch, logs=None):
            for entry in cb.layers_:
                seen['moved'] += int(np.sum(entry.kernel.numpy()[entry.mask.numpy() == 0] != 0))
            # the logged use is the pruned model's (the mask's), within the step's budget
            seen['over'] += int(logs['hwprune_DSP'] > logs['hwprune_DSP_budget'] + 1e-9)

    model.fit(x, y, epochs=6, batch_size=64, callbacks=[cb, Check()], verbose=0)
    assert seen['moved'] > 0          # before the budget's end pruned weights train on
    assert seen['revived'] > 0        # and some come back at a later step
    assert seen['over'] == 0
    for entry in cb.layers_:          # from the end on the masks hold: the model is within budget
        assert np.all(entry.kernel.numpy()[entry.mask.numpy() == 0] == 0.0)
    assert cb.usage()['DSP'] <= 0.3 * cb.initial_usage[0] + 1e-9
    # without regrowth nothing pruned ever comes back
    model = dense_model(optimizer=keras.optimizers.Adam(0.02))
    cb = hwprune.HardwarePruning(target(strategy='latency'), budget=budget, regularization=0.0, verbose=0)
    previous.clear()
    seen.update(revived=0)
    model.fit(x, y, epochs=6, batch_size=64, callbacks=[cb, Check()], verbose=0)
    assert seen['revived'] == 0


def test_budget_schedule_is_followed_and_logged(tmp_path):
    x, y = data(512)
    model = dense_model()
    budget = hwprune.PolynomialBudget(final=0.25, begin=0, end=3, power=1)
    cb = hwprune.HardwarePruning(target(), resources=['DSP', 'params'],
                                 budget={'DSP': budget, 'params': hwprune.ConstantBudget(0.9)},
                                 log_dir=str(tmp_path / 'tb'), verbose=0)
    history = model.fit(x, y, epochs=5, batch_size=128, callbacks=[cb], verbose=0).history
    initial = cb.initial_usage
    for epoch in range(5):
        fraction = budget(min(epoch, 3))
        assert history['hwprune_DSP'][epoch] <= fraction * initial[0] + 1e-9
        assert history['hwprune_DSP_budget'][epoch] == pytest.approx(fraction * initial[0])
        assert history['hwprune_params'][epoch] <= 0.9 * initial[1] + 1e-9
    assert history['hwprune_sparsity'][-1] > 0.6
    assert [h['step'] for h in cb.history] == [0, 1, 2, 3, 4]  # the constant params budget has no end
    assert any(f.startswith('events') for f in os.listdir(tmp_path / 'tb'))
    report = hwprune.estimate(model, target())
    assert report.total['DSP'] == pytest.approx(history['hwprune_DSP'][-1])


def test_estimate_counts_dsp_groups_exactly():
    model = dense_model()
    t = target(rf=4, strategy='resource_unrolled')  # a multiplier is freed only with all its RF weights
    before = hwprune.estimate(model, t)
    assert before.total['DSP'] == (16 * 32 + 32 * 16 + 16 * 5) / 4
    k = model.layers[0].kernel.numpy()
    layout = dsp_layout('dense', k.shape, 4)
    one_group = k.copy()
    one_group[layout.ids == 7] = 0.0
    model.layers[0].kernel.assign(one_group)
    after = hwprune.estimate(model, t)
    assert after.layers['fc1']['DSP'] == before.layers['fc1']['DSP'] - 1
    assert after.total['params'] == before.total['params'] - 4
    # the same number of zeros strided across groups frees nothing
    flat_t = k.T.copy().reshape(-1)  # hls4ml's transposed order: DSP g holds entries [4g, 4g + 4)
    flat_t[[1, 5, 9, 13]] = 0.0  # one weight in each of four consecutive DSP groups
    model.layers[0].kernel.assign(flat_t.reshape(k.T.shape).T)
    strided_report = hwprune.estimate(model, t)
    assert strided_report.layers['fc1']['DSP'] == before.layers['fc1']['DSP']
    assert strided_report.total['params'] == before.total['params'] - 4
    # under Latency (hwprune's choice for small Dense layers) any 4 zeros free one multiplier
    assert hwprune.estimate(model, target(rf=4)).layers['fc1']['DSP'] == before.layers['fc1']['DSP'] - 1
    # estimate never changed anything else
    assert model.layers[1].kernel.numpy().all()
    assert 'fc1' in str(after) and json.loads(json.dumps(after.to_dict()))['total']['DSP'] == after.total['DSP']


def test_accuracy_guard_restores_a_model_within_tolerance():
    x, y = data(1024, seed=3)
    xv, yv = data(512, seed=4)
    model = dense_model(seed=1)
    model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    baseline = model.evaluate(xv, yv, verbose=0, return_dict=True)['accuracy']
    cb = hwprune.HardwarePruning(target(), budget=hwprune.PolynomialBudget(final=0.003, begin=0, end=3, power=1),
                                 monitor='val_accuracy', tolerance=0.02, validation_data=(xv, yv),
                                 restore_best=True, verbose=0)
    model.fit(x, y, epochs=5, batch_size=64, validation_data=(xv, yv), callbacks=[cb], verbose=0)
    final = model.evaluate(xv, yv, verbose=0, return_dict=True)['accuracy']
    assert cb.guard_.baseline == pytest.approx(baseline)
    assert final >= baseline * 0.98 - 1e-6
    # 2 DSPs cannot keep 5 classes apart: the guard froze the budget above that
    assert cb.guard_.frozen is not None
    assert cb.usage()['DSP'] > 0.003 * cb.initial_usage[0] + 1
    masks = [e.mask.numpy() for e in cb.layers_]
    for layer, mask in zip(model.layers, masks):
        assert np.all(layer.kernel.numpy()[mask == 0] == 0)


def test_rollback_guard_returns_to_last_good_state():
    x, y = data(1024, seed=3)
    model = dense_model(seed=1)
    model.fit(x, y, epochs=6, batch_size=64, verbose=0)
    cb = hwprune.HardwarePruning(target(), budget=hwprune.PolynomialBudget(final=0.02, begin=0, end=2, power=1),
                                 monitor='accuracy', tolerance=0.01, baseline=1.0, guard='rollback', verbose=0)
    history = model.fit(x, y, epochs=3, batch_size=64, callbacks=[cb], verbose=0).history
    # nothing reaches accuracy 1.0: every step is rolled back to the unpruned model
    assert history['hwprune_within_tolerance'] == [1.0, 1.0, 1.0] or cb.usage()['DSP'] == cb.initial_usage[0]
    assert cb.usage()['DSP'] == cb.initial_usage[0]


def test_functional_qkeras_bn_model_is_pruned():
    qkeras = qkeras_module()
    x = np.random.default_rng(0).normal(size=(256, 16, 3)).astype('float32')
    y = (x[:, :, 0].mean(axis=1) > 0).astype('int32')
    inputs = keras.Input((16, 3))
    h = qkeras.QConv1D(8, 3, kernel_quantizer='quantized_bits(8,0,alpha=1)', bias_quantizer='quantized_bits(8,0,alpha=1)',
                       name='qconv')(inputs)
    h = keras.layers.BatchNormalization(name='bn')(h)
    h = qkeras.QActivation('quantized_relu(8)', name='qrelu')(h)
    h = keras.layers.Flatten()(h)
    branch = keras.layers.Dense(8, activation='relu', name='fc_a')(h)
    other = qkeras.QDense(8, kernel_quantizer='quantized_bits(8,0,alpha=1)', name='fc_b')(h)
    h = keras.layers.Add()([branch, other])
    outputs = keras.layers.Dense(2, activation='softmax', name='out')(h)
    model = keras.Model(inputs, outputs)
    model.compile('adam', 'sparse_categorical_crossentropy')
    cb = hwprune.HardwarePruning(target(rf=2, strategy='latency'), budget=hwprune.ConstantBudget(0.5), verbose=0)
    model.fit(x, y, epochs=2, batch_size=64, callbacks=[cb], verbose=0)
    assert [e.info.name for e in cb.layers_] == ['qconv', 'fc_a', 'fc_b', 'out']
    assert cb.usage()['DSP'] <= 0.5 * cb.initial_usage[0] + 1e-9
    assert cb.layers_[0].info.class_name == 'QConv1D'


def test_resume_continues_with_identical_masks(tmp_path):
    x, y = data(512)
    state = str(tmp_path / 'state.npz')
    weights = str(tmp_path / 'ckpt.weights.h5')
    budget = hwprune.PolynomialBudget(final=0.3, begin=0, end=4, power=1)
    model = dense_model()
    first = hwprune.HardwarePruning(target(), budget=budget, state_path=state, verbose=0)
    model.fit(x, y, epochs=2, batch_size=128, callbacks=[first, keras.callbacks.ModelCheckpoint(weights, save_weights_only=True)],
              verbose=0)
    masks_at_interrupt = [e.mask.numpy().copy() for e in first.layers_]

    resumed_model = dense_model(seed=5)  # a fresh process would rebuild the model...
    resumed_model.load_weights(weights)  # ...and load the checkpoint
    second = hwprune.HardwarePruning(target(), budget=budget, state_path=state, verbose=0)
    seen = {}
    resume = second._continue_at  # the saved masks are applied at the first epoch, before its step

    def peek(epoch):
        resume(epoch)
        seen['masks'] = [e.mask.numpy().copy() for e in second.layers_]
    second._continue_at = peek

    resumed_model.fit(x, y, epochs=5, initial_epoch=2, batch_size=128, callbacks=[second], verbose=0)
    for a, b in zip(masks_at_interrupt, seen['masks']):
        assert np.array_equal(a, b)
    assert second.pruning_steps == 5  # steps at epochs 0, 1 (before) and 2, 3, 4 (after)
    np.testing.assert_allclose(second.initial_usage, first.initial_usage)
    assert second.usage()['DSP'] <= 0.3 * first.initial_usage[0] + 1e-9


def test_a_state_of_another_run_is_not_resumed_at_epoch_0(tmp_path):
    """Rerunning a script (or a notebook cell) from scratch with the same state_path: the saved state
    is of a run that this fit does not continue. The fit stops with a message naming the file and the
    initial_epoch that would continue it, and the model is left as it was (no weight zeroed, no mask
    constraint left on it)."""
    x, y = data(256)
    state = str(tmp_path / 'state.npz')
    budget = hwprune.PolynomialBudget(final=0.3, begin=0, end=2, power=1)
    dense_model().fit(x, y, epochs=3, batch_size=128, verbose=0,
                      callbacks=[hwprune.HardwarePruning(target(), budget=budget, state_path=state, verbose=0)])
    model = dense_model(seed=3)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r'`state_path`.*initial_epoch=3.*starts at epoch 1.*Delete the file'):
        model.fit(x, y, epochs=3, batch_size=128, verbose=0,
                  callbacks=[hwprune.HardwarePruning(target(), budget=budget, state_path=state, verbose=0)])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(layer.kernel.constraint is None for layer in model.layers)
    os.remove(state)  # a new run
    cb = hwprune.HardwarePruning(target(), budget=budget, state_path=state, verbose=0)
    model.fit(x, y, epochs=3, batch_size=128, verbose=0, callbacks=[cb])
    assert [h['step'] for h in cb.history] == [0, 1, 2]


def test_resume_with_regrowth_keeps_the_moving_pruned_weights(tmp_path):
    # soft pruning: between steps pruned weights train on; a resume must not zero them (the
    # uninterrupted run would not) nor hold them until the next step
    x, y = data(512)
    state = str(tmp_path / 'state.npz')
    weights = str(tmp_path / 'ckpt.weights.h5')
    budget = hwprune.PolynomialBudget(final=0.3, initial=0.5, begin=0, end=4)
    model = dense_model(optimizer=keras.optimizers.Adam(0.02))
    first = hwprune.HardwarePruning(target(strategy='latency'), budget=budget, regrowth=True, regularization=0.0,
                                    state_path=state, verbose=0)
    model.fit(x, y, epochs=2, batch_size=64, verbose=0,
              callbacks=[first, keras.callbacks.ModelCheckpoint(weights, save_weights_only=True)])
    masks = [e.mask.numpy().copy() for e in first.layers_]
    resumed = dense_model(seed=5, optimizer=keras.optimizers.Adam(0.02))
    resumed.load_weights(weights)  # the checkpoint of the last epoch (fit's end applied the masks)
    saved = [resumed.get_layer(e.info.name).kernel.numpy().copy() for e in first.layers_]
    assert sum(int(np.sum(k[m == 0] != 0)) for k, m in zip(saved, masks)) > 0  # they were moving
    second = hwprune.HardwarePruning(target(strategy='latency'), budget=budget, regrowth=True, regularization=0.0,
                                     state_path=state, verbose=0)
    seen = {}
    resume = second._continue_at  # the saved masks are applied at the first epoch, before its step

    def peek(epoch):
        resume(epoch)
        seen['kernels'] = [e.kernel.numpy().copy() for e in second.layers_]
        seen['masks'] = [e.mask.numpy().copy() for e in second.layers_]
        seen['held'] = [e.mask.mask.numpy().copy() for e in second.layers_]
    second._continue_at = peek

    resumed.fit(x, y, epochs=6, initial_epoch=2, batch_size=64, callbacks=[second], verbose=0)
    for a, b in zip(saved, seen['kernels']):
        np.testing.assert_array_equal(a, b)
    for a, b, held in zip(masks, seen['masks'], seen['held']):
        assert np.array_equal(a, b)
        assert np.all(held == 1)  # not holding before the next step
    for entry in second.layers_:  # from the end on the masks hold
        assert np.all(entry.kernel.numpy()[entry.mask.numpy() == 0] == 0.0)
    assert second.usage()['DSP'] <= 0.3 * first.initial_usage[0] + 1e-9


def test_trained_model_loads_without_hwprune(tmp_path):
    x, y = data(256)
    model = dense_model()
    model.fit(x, y, epochs=2, batch_size=64, verbose=0,
              callbacks=[hwprune.HardwarePruning(target(), budget=hwprune.ConstantBudget(0.5), verbose=0)])
    code = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        m1 = tf.keras.models.load_model({str(tmp_path / 'm.keras')!r})
        m2 = tf.keras.models.load_model({str(tmp_path / 'm.h5')!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        np.save({str(tmp_path / 'p1.npy')!r}, m1.predict(x, verbose=0))
        np.save({str(tmp_path / 'p2.npy')!r}, m2.predict(x, verbose=0))
        assert 'hwprune' not in sys.modules
    """)
    model.save(tmp_path / 'm.keras')
    model.save(tmp_path / 'm.h5')
    np.save(tmp_path / 'x.npy', x[:16])
    subprocess.run([sys.executable, '-c', code], check=True, env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'})
    expected = model.predict(x[:16], verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / 'p1.npy'), expected, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / 'p2.npy'), expected, atol=1e-6)


def test_callback_config_round_trip():
    cb = hwprune.HardwarePruning(target(rf=4), resources={'DSP': 1.0, 'BRAM': 0.5},
                                 budget=hwprune.PolynomialBudget(final=0.2, end=7), monitor='val_accuracy', verbose=0)
    config = cb.get_config()
    assert json.loads(json.dumps(config)) == config
    again = hwprune.HardwarePruning.from_config(config)
    assert again.get_config() == config


def test_weighted_resources():
    x, y = data(256)
    model = dense_model()
    cb = hwprune.HardwarePruning(target(rf=2), resources={'DSP': 1.0, 'BRAM': 2.0},
                                 budget=hwprune.ConstantBudget(0.5), verbose=0)
    history = model.fit(x, y, epochs=1, batch_size=64, callbacks=[cb], verbose=0).history
    assert history['hwprune_weighted'][0] <= 0.5 * cb.initial_usage[0] + 1e-9
    assert history['hwprune_weighted'][0] == pytest.approx(history['hwprune_DSP'][0] + 2 * history['hwprune_BRAM'][0])


def test_step_updates_and_taylor_importance():
    x, y = data(512)
    model = dense_model()
    cb = hwprune.HardwarePruning(target(), budget=hwprune.PolynomialBudget(final=0.5, begin=2, end=10, frequency=4),
                                 update='step', importance='taylor', importance_data=(x[:128], y[:128]), verbose=0)
    model.fit(x, y, epochs=2, batch_size=64, callbacks=[cb], verbose=0)
    assert [h['step'] for h in cb.history] == [2, 6, 10]
    assert cb.usage()['DSP'] <= 0.5 * cb.initial_usage[0] + 1e-9


def test_callback_can_be_reused():
    x, y = data(256)
    cb = hwprune.HardwarePruning(target(), budget=hwprune.ConstantBudget(0.5), verbose=0)
    for seed in (0, 1):
        model = dense_model(seed)
        model.fit(x, y, epochs=1, batch_size=64, callbacks=[cb], verbose=0)
        assert cb.usage()['DSP'] <= 0.5 * cb.initial_usage[0] + 1e-9
        assert cb.initial_usage[0] == (16 * 32 + 32 * 16 + 16 * 5) / 2


def test_bad_input_is_reported_early(caplog):
    x, y = data(64)
    with pytest.raises(ValueError, match='`fraction`|`budget`'):
        hwprune.HardwarePruning(target(), budget=1.5)
    with pytest.raises(ValueError, match='`resources`'):
        hwprune.HardwarePruning(target(), resources='LUT')
    with pytest.raises(TypeError, match='`target`'):
        hwprune.HardwarePruning(42)
    with pytest.raises(ValueError, match='`importance_data`'):
        hwprune.HardwarePruning(target(), importance='taylor')
    # no prunable layer
    model = keras.Sequential([keras.layers.Flatten(input_shape=(4, 4))])
    model.compile('sgd', 'mse')
    with pytest.raises(ValueError, match='prunable layer'):
        model.fit(np.zeros((4, 4, 4)), np.zeros((4, 16)), callbacks=[hwprune.HardwarePruning(target())], verbose=0)
    # a monitored metric that does not exist
    model = dense_model()
    cb = hwprune.HardwarePruning(target(), monitor='val_f1', validation_data=(x, y), verbose=0)
    with pytest.raises(ValueError, match='`monitor`.*val_accuracy'):
        model.fit(x, y, epochs=1, callbacks=[cb], verbose=0)
    # a guard without a baseline when pruning starts at epoch 0
    cb = hwprune.HardwarePruning(target(), monitor='val_accuracy', verbose=0)
    with pytest.raises(ValueError, match='`baseline`'):
        dense_model().fit(x, y, epochs=1, callbacks=[cb], verbose=0)
    # NaN weights at a pruning step
    model = dense_model()
    k = model.layers[1].kernel.numpy()
    k[0, 0] = np.nan
    model.layers[1].kernel.assign(k)
    with pytest.raises(ValueError, match="fc2"):
        model.fit(x, y, epochs=1, callbacks=[hwprune.HardwarePruning(target(), verbose=0)], verbose=0)


def test_custom_layer_without_layout_is_named(caplog):
    class Scale(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(name='w', shape=(shape[-1],), initializer='ones')

        def call(self, x):
            return x * self.w

    x, y = data(64)
    model = keras.Sequential([keras.layers.Dense(8, input_shape=(16,), name='fc'), Scale(name='scale'),
                              keras.layers.Dense(5, name='out')])
    model.compile('adam', keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with caplog.at_level(logging.WARNING):
        model.fit(x, y, epochs=1, callbacks=[hwprune.HardwarePruning(target(), verbose=0)], verbose=0)
    assert "'scale'" in caplog.text and 'register_layer' in caplog.text


MIRRORED = """
import numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
import hwprune
from hwprune.targets import FPGATarget, FPGALayerSettings
keras = tf.keras
strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
assert strategy.num_replicas_in_sync == 2
rng = np.random.default_rng(0)
x = rng.normal(size=(512, 16)).astype('float32'); y = rng.integers(0, 5, 512)
with strategy.scope():
    model = keras.Sequential([keras.layers.Dense(32, activation='relu', input_shape=(16,)), keras.layers.Dense(5)])
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
cb = hwprune.HardwarePruning(FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='resource')),
                             budget=hwprune.ConstantBudget(0.4), regularization=1e-3, verbose=0)
model.fit(x, y, epochs=2, batch_size=64, callbacks=[cb], verbose=0)
assert cb.usage()['DSP'] <= 0.4 * cb.initial_usage[0] + 1e-9, cb.usage()
for entry in cb.layers_:
    mask = entry.mask.numpy()
    replicas = entry.kernel.values if hasattr(entry.kernel, 'values') else entry.kernel.value.values  # Keras 3
    assert len(replicas) == 2
    for v in replicas:
        assert np.all(v.numpy()[mask == 0] == 0.0)
print('OK')
"""


def test_mirrored_strategy_two_logical_cpus():
    result = subprocess.run([sys.executable, '-c', MIRRORED], capture_output=True, text=True,
                            env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'})
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'OK' in result.stdout


@pytest.mark.parametrize('protect', [True, False])
def test_output_neurons_are_never_pruned_away(protect):
    x, y = data(256)
    model = dense_model()
    cb = hwprune.HardwarePruning(target(), budget=hwprune.ConstantBudget(0.02), normalization='none',
                                 protect_outputs=protect, verbose=0)
    model.fit(x, y, epochs=1, batch_size=64, callbacks=[cb], verbose=0)
    alive_outputs = np.any(model.get_layer('out').kernel.numpy() != 0, axis=0)
    if protect:  # every output keeps a path of live weights back to the input
        assert alive_outputs.all()
        assert np.any(model.predict(x[:64], verbose=0).std(axis=0) > 0)
        assert cb.usage()['DSP'] <= 0.02 * cb.initial_usage[0] + 1e-9
    else:  # 2 % of the multipliers, chosen by magnitude alone, silence some classes
        assert not alive_outputs.all()


@pytest.mark.parametrize('normalization', ['max', 'mean'])
def test_dead_units_are_folded_exactly_and_free_their_consumers_weights(normalization):
    x, y = data(256)
    model = dense_model(optimizer=keras.optimizers.SGD(learning_rate=0.0))  # weights only change by pruning
    original = [w.copy() for w in model.get_weights()]
    for layer in model.layers[:2]:  # biases that make dead units emit nonzero constants through ReLU
        layer.bias.assign(np.linspace(-0.5, 0.5, layer.bias.shape[0]).astype('float32'))
    original = [w.copy() for w in model.get_weights()]
    cb = hwprune.HardwarePruning(target(rf=2, strategy='resource_unrolled'), budget=hwprune.ConstantBudget(0.15),
                                 regularization=0.0, protect_outputs=False, verbose=0, normalization=normalization)
    model.fit(x, y, epochs=1, batch_size=256, callbacks=[cb], verbose=0)
    # the step's selection rounds may strand units (the knapsack moves freed budget to another
    # layer); the best round is kept, never an empty model ('mean' once returned 0 DSPs here)
    assert 0 < cb.usage()['DSP'] <= 0.15 * cb.initial_usage[0] + 1e-9
    fc1, fc2 = cb.layers_[0], cb.layers_[1]
    dead = fc2.pruned.dead_inputs
    assert dead.any()  # some fc1 neurons lost every weight...
    assert np.array_equal(dead, ~np.any(fc1.mask.numpy() != 0, axis=0))
    assert np.all(model.layers[1].kernel.numpy()[dead] == 0)  # ...and fc2 no longer pays for reading them
    # the folded model computes what the pruned model computes with those weights still there
    reference = dense_model()
    weights = [w.copy() for w in original]
    for i, entry in enumerate(cb.layers_):
        mask = entry.mask.numpy()
        mask[entry.pruned.dead_inputs] = 1.0
        weights[2 * i] = weights[2 * i] * mask
    reference.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5)
    # the callback reports the model's use, and stripping (the units nobody reads or that read
    # nothing are gone) loses no weight; the DSP groups of the smaller kernels may pack differently
    t = target(rf=2, strategy='resource_unrolled')
    assert hwprune.estimate(model, t).total['DSP'] == pytest.approx(cb.usage()['DSP'])
    stripped = hwprune.strip(model)
    assert hwprune.estimate(stripped, t).total['params'] == hwprune.estimate(model, t).total['params']
    assert [l.kernel.shape[-1] for l in stripped.layers][:2] == \
        [int(np.any(l.kernel.numpy() != 0, axis=0).sum()) for l in model.layers][:2]


def test_links_only_through_per_channel_layers():
    from hwprune.keras.deadunits import find_links
    from hwprune.keras.topology import read_graph
    inputs = keras.Input((8,))
    a = keras.layers.Dense(6, activation='relu', name='a')(inputs)
    b = keras.layers.Dense(6, name='b')(a)
    b = keras.layers.Activation('softmax')(b)
    c = keras.layers.Dense(6, activation='softmax', name='c')(b)
    d = keras.layers.Dropout(0.1)(c)
    e = keras.layers.Dense(3, name='e')(d)
    model = keras.Model(inputs, e)
    links = {(l.producer.name, l.consumer.name) for l in find_links(read_graph(model), ['a', 'b', 'c', 'e'])}
    assert links == {('a', 'b')}  # softmax mixes channels: no constant per dead unit


def separable_model(seed=0):
    tf.keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, padding='same', activation='relu', name='c0')(inputs)
    h = keras.layers.DepthwiseConv2D(3, padding='same', activation='relu', name='dw')(h)
    h = keras.layers.SeparableConv2D(6, 3, strides=2, activation='relu', name='sep')(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(5, name='out')(h)
    model = keras.Model(inputs, outputs)
    model.compile('adam', keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_depthwise_and_separable_kernels_are_pruned_as_hls4ml_units():
    model = separable_model()
    x = np.random.default_rng(0).normal(size=(128, 8, 8, 1)).astype('float32')
    y = (x.mean(axis=(1, 2, 3)) > 0).astype('int32') * 2
    cfg = {'Model': {'ReuseFactor': 2, 'Strategy': 'Resource', 'Precision': 'ap_fixed<16,6>'}}
    cb = hwprune.HardwarePruning(cfg, budget=hwprune.ConstantBudget(0.4), regularization=1e-3, verbose=0)
    model.fit(x, y, epochs=2, batch_size=32, callbacks=[cb], verbose=0)
    infos = {e.info.name: e.info for e in cb.layers_}
    assert list(infos) == ['c0', 'dw', 'sep_depthwise', 'sep_pointwise', 'out']
    assert [infos[n].kind for n in infos] == ['conv2d', 'depthwise2d', 'depthwise2d', 'conv2d', 'dense']
    # the SeparableConv as hls4ml splits it: depthwise (strides 2, valid) -> 1x1 pointwise
    assert infos['sep_depthwise'].output_shape == (3, 3, 4) and infos['sep_depthwise'].strides == (2, 2)
    assert infos['sep_pointwise'].input_shape == (3, 3, 4) and infos['sep_pointwise'].strides == (1, 1)
    assert infos['sep_pointwise'].kernel_shape == (1, 1, 4, 6) and infos['sep_pointwise'].inputs == ('sep_depthwise',)
    assert infos['sep_depthwise'].inputs == ('dw',) and not infos['sep_depthwise'].use_bias
    assert cb.usage()['DSP'] <= 0.4 * cb.initial_usage[0] + 1e-9
    sep = model.get_layer('sep')
    for entry in cb.layers_:
        mask = entry.mask.numpy()
        assert np.all(entry.kernel.numpy()[mask == 0] == 0)
    assert cb.layers_[2].kernel is sep.depthwise_kernel and cb.layers_[3].kernel is sep.pointwise_kernel
    report = hwprune.estimate(model, cfg)
    assert report.total['DSP'] == pytest.approx(cb.usage()['DSP'])
    assert report.details['dw']['strategy'] == 'latency'  # Resource would ignore the zeros
    assert hwprune.keras.specs_for(sep)[1].kernel == 'pointwise_kernel'
    only = hwprune.HardwarePruning(cfg, layers=['sep_pointwise', 'dw'], verbose=0)
    model.fit(x, y, epochs=1, callbacks=[only], verbose=0)
    assert [e.info.name for e in only.layers_] == ['dw', 'sep_pointwise']


def test_targets_without_depthwise_models_leave_those_layers_unpruned(caplog):
    model = separable_model()
    x = np.random.default_rng(1).normal(size=(64, 8, 8, 1)).astype('float32')
    y = np.zeros(64, 'int32')
    with caplog.at_level(logging.WARNING):
        cb = hwprune.HardwarePruning(hwprune.targets.SystolicArray(rows=8, cols=8), budget=hwprune.ConstantBudget(0.5),
                                     verbose=0)
        model.fit(x, y, epochs=1, callbacks=[cb], verbose=0)
    assert [e.info.name for e in cb.layers_] == ['c0', 'sep_pointwise', 'out']
    assert "'dw'" in caplog.text and 'no cost model for depthwise2d' in caplog.text


def test_progress_lines_and_logs_for_every_callback(tmp_path, capsys):
    """verbose=1 prints one line per pruning step (0 prints nothing); the epoch logs carry hwprune's
    values for callbacks placed before HardwarePruning too; TensorBoard gets per-layer scalars."""
    x, y = data(256)
    seen = []

    class Before(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append({k: v for k, v in logs.items() if k.startswith('hwprune_')})

    csv = tmp_path / 'log.csv'
    cb = hwprune.HardwarePruning(target(), budget=hwprune.PolynomialBudget(final=0.4, end=2, power=1),
                                 log_dir=str(tmp_path / 'tb'), verbose=1)
    dense_model().fit(x, y, epochs=3, batch_size=64, verbose=0,
                      callbacks=[Before(), keras.callbacks.CSVLogger(str(csv)), cb])
    lines = [line for line in capsys.readouterr().out.splitlines() if 'hwprune' in line]
    assert any(line.startswith('hwprune: pruning 3 kernels (fc1, fc2, out)') for line in lines)
    assert any('regularization=auto without data' in line for line in lines)
    steps = [line for line in lines if 'hwprune step' in line]
    assert [line.split(':')[0] for line in steps] == ['Epoch 1', 'Epoch 2', 'Epoch 3']
    budget = 0.4 * cb.initial_usage[0]
    assert f'budget DSP {budget:g} (40%)' in steps[-1] and 'sparsity' in steps[-1]
    assert [set(s) for s in seen] == [{'hwprune_DSP', 'hwprune_DSP_budget', 'hwprune_sparsity'}] * 3
    assert seen[-1]['hwprune_DSP'] <= seen[-1]['hwprune_DSP_budget'] == pytest.approx(budget)
    assert 'hwprune_DSP' in csv.read_text().splitlines()[0]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / 'tb'))
    events.Reload()
    tags = set(events.Tags()['tensors'])
    assert {'hwprune_DSP', 'hwprune_layers/fc1/DSP', 'hwprune_layers/out/sparsity'} <= tags
    quiet = hwprune.HardwarePruning(target(), budget=0.5, verbose=0)
    dense_model().fit(x, y, epochs=1, verbose=0, callbacks=[quiet])
    assert capsys.readouterr().out == ''


def test_auto_strength_follows_the_gradients_and_fractions_fall_over_the_run(capsys):
    """regularization='auto' (default) is 0.18 x the mean |dL/dw| on validation_data (times 1/(12 f) for a
    budget f looser than 12x); a fraction budget falls to its final value by 85 % of the epochs and
    fine-tunes the rest."""
    from hwprune.keras.callback import REGULARIZATION_GRADIENT_RATIO

    x, y = data(512)
    xv, yv = data(256, seed=7)
    model = dense_model()
    cb = hwprune.HardwarePruning(target(), budget=0.3, validation_data=(xv, yv), verbose=1)
    model.fit(x, y, epochs=10, batch_size=64, callbacks=[cb], verbose=0)
    out = capsys.readouterr().out
    assert 'regularization=auto: group-lasso strength' in out
    assert cb.regularization == 'auto' and cb.get_config()['regularization'] == 'auto'
    schedule = cb.schedule_for('DSP')
    assert isinstance(schedule, hwprune.PolynomialBudget) and schedule.end == 8  # round(0.85 * 10)
    assert [h['step'] for h in cb.history] == list(range(9))
    assert cb.history[-1]['fractions'] == [pytest.approx(0.3)] and cb.history[0]['fractions'] == [1.0]
    assert cb.usage()['DSP'] <= 0.3 * cb.initial_usage[0] + 1e-9
    # the strength the run used: the ratio x the gradient scale of the model it started from
    assert REGULARIZATION_GRADIENT_RATIO == 0.18
    fresh = dense_model(optimizer=keras.optimizers.SGD(learning_rate=0.0))  # the weights stay as measured
    probe = hwprune.HardwarePruning(target(), budget=1.0, validation_data=(xv, yv), verbose=0)
    fresh.fit(x[:64], y[:64], epochs=1, callbacks=[probe], verbose=0)
    scale = probe.gradient_scale((xv, yv))
    assert scale > 0
    # a loose budget gets a gentler push: the full ratio at 12x fewer or tighter, ~1/f above
    assert probe.budget_factor() == pytest.approx(1 / 12)
    assert probe._lambda == pytest.approx(REGULARIZATION_GRADIENT_RATIO / 12 * scale, rel=1e-3)
    assert cb.budget_factor() == pytest.approx(1 / 3.6)
    tight = hwprune.HardwarePruning(target(), budget={'DSP': 0.05, 'BRAM': 0.5}, resources=['DSP', 'BRAM'])
    assert tight.budget_factor() == 1.0
    with pytest.raises(ValueError, match="`regularization`: expected a number >= 0 or 'auto'"):
        hwprune.HardwarePruning(target(), regularization='strong')
