export * from './manifest';
export * from './tokenizer';
export * from './onnxDenoiser';
export * from './loadModel';
export * from './slotFilter';
