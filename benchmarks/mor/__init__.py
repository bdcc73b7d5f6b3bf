"""Model order reduction benchmarks: rsketch's reductors against pyMOR on pyMOR's thermal block."""
