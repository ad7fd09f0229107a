"""The training lab's parts, one responsibility each; the scene (``gradsim.ui.scenes.training``)
puts them together.

- ``traces``: what the charts draw of each model, in one copy (float64 columns), filled from the
  engine's snapshots or a loaded run's record;
- ``shown``: the memory of what each chart item shows, so a live redraw hands over only what changed;
- ``views``: one class per view (accuracy and loss, gradient heatmap, eigenvalues, gradient norm,
  delay sweep) and the per-model status lines;
- ``models_panel``: the controls of one model;
- ``session``: the training task's life (start, pause, step, stop at the generator's yields) and
  the frame timer; ``sweep``: the delay sweep's task;
- ``files``: saving and loading runs, and the curves as CSV columns.
"""
