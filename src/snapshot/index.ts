export {
  type ActiveSnapshot,
  type CommitResult,
  MAX_LAYERS,
  assertSnapshotId,
  commit,
  exists,
  isLive,
  list,
  liveActiveDirs,
  prepare,
  remove,
  removeCommitted,
  snapshotDir,
  snapshotsRoot,
  tempRoot,
} from './store.ts';
export { cleanupStale, withActive, withTempDir } from './cleanup.ts';
