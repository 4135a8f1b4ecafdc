import path from 'node:path';

/**
 * Where berth's native files are: the sandbox helper (berth-sandbox) and the Node-API addon
 * (berth_sys.node). From a checkout and from the npm package they are the ones native/'s Makefile
 * built, two levels up from the running module (src/<module>/ or lib/<bundle>/). The single
 * executable carries them inside itself and writes them out to a cache directory at start
 * (src/cli/sea-native.ts) when first asked for. Asked at each use, not
 * at module load: a start-up snapshot would otherwise keep the builder's directory.
 */
export type NativeName = 'berth-sandbox' | 'berth_sys.node';

let resolver: ((name: NativeName) => string) | undefined;

/** From the single executable: `resolve` writes the file out when it must, and gives its path. */
export function setNativeResolver(resolve: (name: NativeName) => string): void {
  resolver = resolve;
}

export function nativeFile(name: NativeName): string {
  return resolver ? resolver(name) : path.join(path.resolve(import.meta.dirname, '../../native/build'), name);
}
