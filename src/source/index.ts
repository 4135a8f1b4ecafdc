export * from './range.ts';
export * from './error.ts';
export * from './suggest.ts';
