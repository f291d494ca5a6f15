"""Training configs (YAML): default (the issue's settings) and tiny (CPU tests); a package so wheels ship them."""
