"""Energy meters: backends, probe, measurement windows, idle baseline, carbon, energy curves."""
