// The decoding engine: pure TypeScript, no vscode and no onnxruntime (docs/architecture.md).
export * from './types';
export * from './policies';
export * from './policyTable';
export * from './canvas';
export * from './shaping';
export * from './decode';
export * from './request';
export * from './gate';
export * from './finite';
