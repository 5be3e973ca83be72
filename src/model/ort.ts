// The one place that imports onnxruntime-node: `./ortEnv` runs first and turns its telemetry off (see there).
// Everything else imports onnxruntime from here.
import './ortEnv';
import * as ort from 'onnxruntime-node';

export { ort };
