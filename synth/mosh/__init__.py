"""mosh stage."""
