// The decoding engine: pure TypeScript, no vscode and no onnxruntime (design §1).
export * from './types';
export * from './policies';
export * from './canvas';
export * from './shaping';
export * from './decode';
