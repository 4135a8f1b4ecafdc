export * from './types.ts';
export { planBuild, type PlanOptions } from './planner.ts';
export { parseBuildArgs, normalizePlatform, TARGET_PLATFORM, PROXY_ARGS } from './args.ts';
export { parseMount } from './mounts.ts';
export { HEREDOC_EXEC_DIR } from './filesystem.ts';
export { DEFAULT_PATH } from './state.ts';
