export { pullImage, type PulledImage } from './images.ts';
export { pushImage, type PushOptions, type PushedImage } from './images.ts';
export {
  exportCache, fetchCacheBlob, importCache, isCacheMountLayer, parseCacheSpec, CACHE_CONFIG_MEDIA_TYPE, DEFAULT_CACHE_MOUNTS_MAX_BYTES,
  CACHE_MOUNT_ID_ANNOTATION, CACHE_MOUNT_NAME_ANNOTATION, CACHE_MOUNT_ROOT_ANNOTATION, CACHE_MOUNT_SIZE_ANNOTATION, type CacheExportOptions,
  type CacheExportResult, type CacheImportResult, type CacheLocation, type CacheMode, type CacheMountBlob, type CacheMountOptions, type CacheSpec,
} from './cache.ts';
export { login, logout, normalizeRegistry } from './auth.ts';
export { RegistryError } from './errors.ts';
export { closeRegistryConnections, isLoopback, isInsecure, type RegistryOptions, type TransferEvent } from './hosts.ts';
export type { RegistryStores } from './transfer.ts';
