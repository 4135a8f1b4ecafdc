export * from './apply.ts';
export * from './compression.ts';
export * from './diff.ts';
export * from './scope.ts';
export * from './store.ts';
export * from './tar-format.ts';
export * from './tar-io.ts';
