// onnxruntime-node (1.30 and later) starts a telemetry system when its environment is created: on Linux it writes a
// device id and an event database under ~/.cache/Microsoft/DeveloperTools/.onnxruntime and carries an upload
// address (mobile.events.data.microsoft.com); on Windows it logs through ETW. Its one opt-out is the environment
// variable ORT_DISABLE_TELEMETRY, read when that environment is created (ORT_TELEMETRY_DISABLED, the other name in
// circulation, is ignored: it still wrote both files, measured with 1.30). This module only sets it, and `./ort`
// imports it before onnxruntime-node, so every process that can load onnxruntime (the model server, the command
// lines, the tests) has it set first. Child processes inherit it.
process.env.ORT_DISABLE_TELEMETRY = '1';
