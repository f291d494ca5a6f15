"""MVIPER and baselines: data, models, losses, metrics."""
