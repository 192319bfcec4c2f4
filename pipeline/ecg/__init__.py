"""ECG image digitization: render, grid, layout, trace, signals, metric, submit."""
