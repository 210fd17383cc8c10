"""Data loaders, the job pipeline and the command line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hwprune.data import JET_CLASSES, digits_task, jet_task, load_jets_csv
from hwprune.pipeline import DEFAULT_JOB, merge_job


def test_synthetic_jet_task_is_the_fixed_benchmark_split():
    task = jet_task()
    assert task.x_train.shape == (38400, 16) and task.x_val.shape == (9600, 16) and task.x_test.shape == (12000, 16)
    assert task.n_classes == 5 and set(np.unique(task.y_train)) == set(range(5))
    assert abs(task.x_train.mean()) < 1e-6  # standardised on train
    again = jet_task()
    assert np.array_equal(again.x_test, task.x_test)


def test_jets_csv_loader_on_a_small_local_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / 'jets.csv'
    names = [f'f{i}' for i in range(16)]
    rows = [','.join([*(f'{v:.4f}' for v in rng.normal(size=16)), JET_CLASSES[i % 5]]) for i in range(200)]
    path.write_text(','.join(names + ['class']) + '\n' + '\n'.join(rows) + '\n')
    x, y = load_jets_csv(str(path))
    assert x.shape == (200, 16) and list(y[:5]) == [0, 1, 2, 3, 4]
    task = jet_task(source='csv', path=str(path))
    assert task.x_train.shape[1] == 16 and len(task.y_test) == 40
    bad = tmp_path / 'bad.csv'
    bad.write_text('a,b\n1,2\n')
    with pytest.raises(ValueError, match='`path`'):
        load_jets_csv(str(bad))
    with pytest.raises(ValueError, match='`path`'):
        jet_task(source='csv')
    with pytest.raises(ValueError, match='`source`'):
        jet_task(source='web')


def test_digits_task():
    task = digits_task()
    assert task.x_train.shape[1:] == (8, 8, 1) and task.n_classes == 10


def test_job_merging_validates_keys():
    job = merge_job({'pruning': {'final': 0.5}, 'output_dir': 'x'})
    assert job['pruning']['final'] == 0.5 and job['pruning']['resources'] == DEFAULT_JOB['pruning']['resources']
    with pytest.raises(ValueError, match='job'):
        merge_job({'prunning': {}})
    with pytest.raises(ValueError, match="job\\['pruning'\\]"):
        merge_job({'pruning': {'finale': 0.5}})


@pytest.mark.slow
def test_cli_quick_demo_and_report(tmp_path):
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}
    out = tmp_path / 'demo'
    result = subprocess.run([sys.executable, '-m', 'hwprune.cli', 'demo', '--quick', '--output-dir', str(out)],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['resources_after']['DSP'] < summary['resources_before']['DSP']
    assert summary['csim_keras_agreement'] > 0.9  # ap_fixed<16,6> vs float, on a briefly trained model
    assert abs(summary['csim_accuracy'] - summary['pruned_accuracy']) < 0.03
    assert (out / 'hls_project' / 'firmware').is_dir()
    assert 'C simulation' in result.stdout
    assert set(summary['plots']) == {'resources', 'budget', 'mask'}
    for path in summary['plots'].values():
        assert open(path, 'rb').read(8) == b'\x89PNG\r\n\x1a\n' and path in result.stdout
    assert summary['plots']['mask'].endswith('mask_fc2.png')  # the largest layer (64x32) of 16-64-32-32-5
    import yaml
    cfg = tmp_path / 'cfg.yml'
    cfg.write_text(yaml.safe_dump({'Model': {'ReuseFactor': 2, 'Strategy': 'Resource', 'Precision': 'ap_fixed<16,6>'}}))
    report = subprocess.run([sys.executable, '-m', 'hwprune.cli', 'report', str(out / 'pruned_model.keras'), str(cfg),
                             '--json', '--plot', str(tmp_path / 'report.png')], capture_output=True, text=True, env=env,
                            timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    assert json.loads(report.stdout)['total']['DSP'] == summary['resources_after']['DSP']
    assert (tmp_path / 'report.png').read_bytes()[:4] == b'\x89PNG'


def test_job_plots_key_and_write_plots_without_training(tmp_path):
    assert DEFAULT_JOB['plots'] is True and merge_job({'plots': False})['plots'] is False
    from hwprune.pipeline import format_summary, write_plots
    from hwprune.report import Report
    before = Report({'fc1': {'DSP': 8.0}, 'fc2': {'DSP': 4.0}})
    after = Report({'fc1': {'DSP': 2.0}, 'fc2': {'DSP': 4.0}})
    paths = write_plots(str(tmp_path), before, after)
    assert paths == {'resources': str(tmp_path / 'resources.png')}
    assert (tmp_path / 'resources.png').read_bytes()[:4] == b'\x89PNG'
    summary = {'report_before_obj': before, 'report_after_obj': after, 'baseline_accuracy': 0.9, 'pruned_accuracy': 0.9,
               'stripped_layers': {}, 'seconds': {}, 'hls_project': 'prj', 'output_dir': str(tmp_path), 'plots': paths}
    assert f'Pictures: {tmp_path / "resources.png"}' in format_summary(summary)


def test_a_job_rerun_into_the_same_directory_does_not_resume_the_earlier_run(tmp_path):
    """Each job prunes from epoch 0: the state an earlier run left in output_dir (saved for a
    resume of that run) is not picked up, even when the model changed in between."""
    from hwprune.pipeline import run_job

    job = {'data': {'n_samples': 3000}, 'training': {'epochs': 1}, 'pruning': {'epochs': 2, 'final': 0.5},
           'compile': False, 'plots': False, 'output_dir': str(tmp_path / 'job')}
    first = run_job({**job, 'model': {'layers': [16, 8]}})
    assert (tmp_path / 'job' / 'pruning_state.npz').exists()
    second = run_job({**job, 'model': {'layers': [12]}})  # the old state does not fit this model
    assert second['resources_after']['DSP'] <= 0.5 * second['resources_before']['DSP'] + 1e-9
    assert second['resources_before']['DSP'] != first['resources_before']['DSP']


@pytest.mark.slow
def test_job_at_the_recommended_operating_point_converts_and_agrees(tmp_path):
    """The library's defaults at 12 % of the DSPs (the demo's operating point, on fewer samples and
    epochs): the pruned model converts and its C simulation agrees with Keras on >= 99 %."""
    from hwprune.pipeline import run_job

    summary = run_job({'data': {'n_samples': 20000}, 'training': {'epochs': 40}, 'pruning': {'epochs': 40},
                       'output_dir': str(tmp_path / 'job'), 'plots': False})
    assert summary['resources_after']['DSP'] <= 0.12 * summary['resources_before']['DSP'] + 1e-9
    assert summary['csim_keras_agreement'] >= 0.99, summary['csim_keras_agreement']
    # accuracy at this budget needs the full data and epochs (docs/benchmarks.md); here only a sanity bound
    assert summary['pruned_accuracy'] >= 0.9 * summary['baseline_accuracy']
