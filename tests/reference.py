"""A straightforward NumPy reference of the SWD contract (tests only)."""

import math

import numpy as np


def select_smallest(arrays, sparsity):
  """Masks of the floor(sparsity * N) smallest |w| over the arrays; ties: lowest index."""
  flat = np.concatenate([np.abs(np.asarray(a, np.float32)).ravel() for a in arrays])
  k = int(math.floor(sparsity * flat.size))
  chosen = np.zeros(flat.size, bool)
  chosen[np.argsort(flat, kind="stable")[:k]] = True
  out, start = [], 0
  for a in arrays:
    out.append(chosen[start:start + np.size(a)].reshape(np.shape(a)))
    start += np.size(a)
  return out


def penalty(step, a_min, a_max, total_steps):
  return a_min * (a_max / a_min) ** (min(step, total_steps) / total_steps)


def swd_update(grads, params, prunable, sparsity, scope, step, weight_decay, a_min, a_max,
               total_steps):
  """The reference update for lists of leaves; returns (updates, masks)."""
  idx = [i for i, f in enumerate(prunable) if f]
  if scope == "global":
    masks_p = select_smallest([params[i] for i in idx], sparsity)
  else:
    masks_p = [select_smallest([params[i]], sparsity)[0] for i in idx]
  masks = [np.zeros(np.shape(p), bool) for p in params]
  for i, m in zip(idx, masks_p):
    masks[i] = m
  coef = penalty(step, a_min, a_max, total_steps) * weight_decay
  updates = [np.asarray(g, np.float64) + coef * np.where(m, np.asarray(p, np.float64), 0)
             for g, p, m in zip(grads, params, masks)]
  return updates, masks
