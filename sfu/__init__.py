"""LiveKit-compatible SFU: Python control plane, C data plane."""
