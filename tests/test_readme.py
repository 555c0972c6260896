"""The README's Python examples run as written."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
  blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
  assert len(blocks) >= 2
  namespace = {}
  for block in blocks:
    exec(compile(block, str(README), "exec"), namespace)  # pylint: disable=exec-used
  # The quickstart pruned 90% of the kernel.
  kernel = np.asarray(namespace["params"]["dense"]["kernel"])
  assert (kernel == 0).sum() == int(0.9 * kernel.size)
