export * from './digest.ts';
export * from './store.ts';
