"""Benchmarks of Selective Weight Decay against the usual pruning baselines.

One training loop (:mod:`benchmarks.train`) runs every data set and every method:

* :mod:`benchmarks.data` loads the data sets (Planetoid citation graphs, scikit-learn's
  digits, MNIST) into two small containers that know how to batch themselves;
* :mod:`benchmarks.models` holds the Flax models (GCN, LeNet-300-100, LeNet-5, ResNet-20);
* :mod:`benchmarks.methods` turns a method name (``dense``, ``swd``, ``magnitude_ft``,
  ``lr_rewinding``, ``gmp``) into a training plan: optimizer phases plus mask updates;
* :mod:`benchmarks.configs` holds the default hyper-parameters of each benchmark, as data;
* :mod:`benchmarks.run` is the command line for one run, :mod:`benchmarks.sweep` for a grid.

Example::

    python -m benchmarks.run digits --method swd --sparsity 0.9 --seed 0
    python -m benchmarks.sweep cora --methods swd gmp --sparsities 0.5 0.9 --seeds 0 1 \\
        --out sweeps/cora --data-dir ../shared/data
"""
