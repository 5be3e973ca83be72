export * from './tokenizer';
export * from './onnxDenoiser';
export * from './loadModel';
export * from './cachedDenoiser';
export * from './slotFilter';
export * from './modelGraph';
