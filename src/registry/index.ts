export { pullImage, type PulledImage } from './images.ts';
export { pushImage, type PushOptions, type PushedImage } from './images.ts';
export {
  exportCache, importCache, parseCacheSpec, CACHE_CONFIG_MEDIA_TYPE, type CacheExportOptions,
  type CacheExportResult, type CacheImportResult, type CacheLocation, type CacheMode, type CacheSpec,
} from './cache.ts';
export { login, logout, normalizeRegistry } from './auth.ts';
export { RegistryError } from './errors.ts';
export { closeRegistryConnections, isLoopback, isInsecure, type RegistryOptions, type TransferEvent } from './hosts.ts';
export type { RegistryStores } from './transfer.ts';
