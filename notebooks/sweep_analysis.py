# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Analysing a sweep
#
# Point `SCALING_RUN_DIR` at a run directory (`runs/<sweep name>`) to analyse it. Without one, this notebook
# trains a tiny sweep first (byte tokenizer, sizes xs and s, sequence length 16, batch 4, a few thousand
# tokens) so it runs anywhere in under a minute.

# %%
import os
import tempfile
from pathlib import Path

RUN_DIR = os.environ.get("SCALING_RUN_DIR")

TINY_SWEEP = """
name: notebook_tiny
model: {family: transformer, sizes: [xs, s]}
data: {corpus: [kjv], tokenizer: {kind: byte}, seq_len: 16}
budget: {kind: tokens, tokens: [1280, 2560]}
optimizer: {lr: 3e-3, schedule: {kind: cosine, warmup: 0.1}}
batch_size: 4
mesh: {data: 1}
eval: {every_steps: 5, batches: 2}
checkpoint: {enabled: false}
log_every: 2
stages: {fit: null, plot: null}
"""

# %%
if RUN_DIR is None:
    from scaling.pipeline import run_pipeline

    work = Path(tempfile.mkdtemp(prefix="sweep_nb_"))
    (work / "tiny.yaml").write_text(TINY_SWEEP)
    result = run_pipeline(work / "tiny.yaml", run_dir=work / "run", stages=False, show_progress=False)
    print("trials:", result.trials)
    RUN_DIR = work / "run"
RUN_DIR = Path(RUN_DIR)

# %% [markdown]
# ## What ran

# %%
from scaling.sweep.store import STORE_NAME, Store  # noqa: E402

store = Store(RUN_DIR / STORE_NAME)
for t in store.trials():
    print(f"{t.label:28s} {t.status:9s} N={t.params_non_embedding or 0:>9,} tokens={t.tokens or 0:>7,} "
          f"val loss={t.val_loss if t.val_loss is not None else float('nan'):.4f}")
store.close()

# %% [markdown]
# ## Figures and report
#
# The plot stage draws what the run's data support and notes what it skipped (a run without `fit.json` gets
# its loss curves but no fit figures).

# %%
from scaling.stages.plot_stage import plot_run  # noqa: E402

out = plot_run(RUN_DIR, formats=["png"])
print(out["summary"])
assert {"loss_vs_tokens", "loss_vs_flops"} <= {Path(p).stem for p in out["figures"]}

# %%
from IPython.display import Image, display  # noqa: E402

for path in out["figures"]:
    display(Image(filename=path))
print("report:", out["report"])
