"""The engine: train loop, evaluation, prediction, checkpoints, metrics and closed-form solvers."""
