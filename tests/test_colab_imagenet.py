"""The Colab notebook and the ImageNet ResNet-50 script build and run on generated data.

Neither can run for real here (no TPU, no ImageNet): the notebook's code cells are
executed in order with ``SMOKE_TEST = True`` (its install cell skipped), which trains the
harness's ResNet-20 on generated CIFAR-shaped images for one epoch with checkpointing;
the ImageNet script runs the ResNet-50 family (reduced stages and width, 64x64 generated
images) for a few steps; and the full ResNet-50 is checked for its parameter count.
"""

import json

import jax
import jax.numpy as jnp
import pytest

from benchmarks import imagenet
from benchmarks import models
from tests.conftest import REPO

NOTEBOOK = REPO / "benchmarks" / "colab_tpu.ipynb"


def _notebook():
  nb = json.loads(NOTEBOOK.read_text())
  # nbformat 4 structure (nbformat itself is not a dependency).
  assert nb["nbformat"] == 4 and isinstance(nb["metadata"], dict)
  for cell in nb["cells"]:
    assert cell["cell_type"] in ("markdown", "code")
    assert isinstance(cell["source"], list) and isinstance(cell["metadata"], dict)
    if cell["cell_type"] == "code":
      assert cell["outputs"] == [] and "execution_count" in cell
  return nb


def test_notebook_code_cells_run_the_harness_on_generated_data(tmp_path):
  nb = _notebook()
  tags = [set(c["metadata"].get("tags", [])) for c in nb["cells"]]
  code = [("".join(c["source"]), t) for c, t in zip(nb["cells"], tags)
          if c["cell_type"] == "code"]
  install = [src for src, t in code if "install" in t]
  assert len(install) == 1 and "git+https://" in install[0] and "%pip install" in install[0]
  assert sum("parameters" in t for _, t in code) == 1
  namespace = {}
  for src, t in code:
    if "install" in t:
      continue
    exec(compile(src, str(NOTEBOOK), "exec"), namespace)  # pylint: disable=exec-used
    if "parameters" in t:
      assert namespace["DATASET"] == "cifar10-paper" and not namespace["SMOKE_TEST"]
      namespace.update(SMOKE_TEST=True, CHECKPOINT_DIR=str(tmp_path / "ckpt"))
  record = namespace["record"]
  assert record["method"] == "swd" and record["model"] == "resnet20"
  assert record["sparsity_measured"] == pytest.approx(0.9, abs=1e-3)
  assert record["steps"] == 60 // 16  # 80 generated images - 20 held out, batch 16
  assert record["params_finite"]
  assert (tmp_path / "ckpt" / "1").is_dir()  # the epoch checkpoint for resuming


def test_imagenet_config_is_the_documented_recipe():
  c = imagenet.PAPER
  assert (c.epochs, c.batch_size, c.lr, c.momentum, c.image_size) == (90, 256, 0.1, 0.9, 224)
  assert (c.sparsity, c.a_min, c.a_max, c.stage_sizes) == (0.975, 0.1, 1e5, (3, 4, 6, 3))
  assert c.total_steps() == 90 * (imagenet.NUM_TRAIN // 256)
  with pytest.raises(ValueError, match="multiple of the 8 devices"):
    imagenet.Config(batch_size=12).validate(8)


def test_full_resnet50_has_its_parameter_count():
  model = models.create("resnet50", 1000)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0),
                                             jnp.zeros((1, 64, 64, 3)), train=False))
  assert sum(x.size for x in jax.tree.leaves(shapes["params"])) == 25_557_032


def test_imagenet_script_trains_on_fake_64px_batches(tmp_path, capsys):
  argv = ["--fake-data", "--image-size", "64", "--batch-size", "8", "--epochs", "2",
          "--steps-per-epoch", "1", "--stage-sizes", "1,1,1,1", "--width", "8",
          "--checkpoint-dir", str(tmp_path / "ck")]
  assert imagenet.main(argv) == 0
  record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert record["steps"] == 2 and len(record["history"]) == 2
  assert record["params_finite"]
  assert record["sparsity_measured"] == pytest.approx(0.975, abs=1e-3)
  assert 0.0 <= record["top1"] <= record["top5"] <= 1.0
  assert (tmp_path / "ck" / "2").is_dir()
  with pytest.raises(SystemExit):
    imagenet.main(["--epochs", "1"])  # neither --manual-dir nor --fake-data
  assert "--manual-dir" in capsys.readouterr().err
