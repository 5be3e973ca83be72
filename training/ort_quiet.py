"""onnxruntime with its telemetry off: the one way the Python side imports it.

onnxruntime reads ORT_DISABLE_TELEMETRY when its environment is created; set before the import, it writes no device
id or event database (src/model/ortEnv.ts says the same for onnxruntime-node, and why).
"""
import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"

import onnxruntime as ort  # noqa: E402  (after the variable, on purpose)

# the Python package also has a switch of its own (Windows' ETW events among them); call it where it exists
if hasattr(ort, "disable_telemetry_events"):
    ort.disable_telemetry_events()

__all__ = ["ort"]
