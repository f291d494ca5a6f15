"""mocap stage."""
