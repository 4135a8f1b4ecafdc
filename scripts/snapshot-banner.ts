/**
 * The code rolldown wraps around the start-up snapshot's entry chunk (scripts/bundle.ts bundles
 * it; scripts/snapshot-blob.ts turns it into a blob). `node --build-snapshot` runs a CommonJS
 * script whose `require` loads built-in modules only, and everything the script leaves in the heap
 * is frozen into the blob. So:
 *
 * - While the bundle is evaluated, reading run-time state (environment, arguments, working
 *   directory, standard streams, ids, clock, randomness, host facts) fails the snapshot build:
 *   module-level code that did would otherwise see the builder's values for ever.
 * - Lazily imported chunks (the registry client, ...) stay separate `.cjs` files, required at run
 *   time with a real `require` (made on first use); they require the entry back, which must give
 *   the snapshot's own module instance, not a second copy loaded from disk.
 * - Built-in modules a no-op build never uses (LAZY_BUILTINS) are not loaded into the snapshot:
 *   there every function of theirs would be compiled from source on first call, while loaded at
 *   run time they come with the code cache built into node, and a smaller heap deserializes
 *   faster. The bundle gets a proxy that loads the module on first use; while building, it
 *   answers for the module's export names without loading it, so the bundler's interop helper can
 *   copy them as getters. The names come from the node that builds the blob (in
 *   BERTH_SNAPSHOT_LAZY_KEYS, read before the guards go up): an installed package is bundled by one
 *   node and snapshotted by another.
 */
export function snapshotBanner(builtins: string[]): string {
  return `var exports = {};
var __berthSnapshot = ((builtin) => {
  const lazyKeys = JSON.parse(process.env.BERTH_SNAPSHOT_LAZY_KEYS || '{}');
  let building = true;
  const lazy = (id) => {
    let real;
    const load = () => (real ??= building ? builtin(id) : process.getBuiltinModule(id));
    return new Proxy({}, {
      get: (_, key) => load()[key],
      set: (_, key, value) => { load()[key] = value; return true; },
      has: (_, key) => key in load(),
      ownKeys: () => (building && !real ? [...lazyKeys[id]] : Reflect.ownKeys(load())),
      getOwnPropertyDescriptor: (_, key) => {
        if (building && !real) return lazyKeys[id].includes(key) ? { configurable: true, enumerable: true, writable: true, value: undefined } : undefined;
        const desc = Reflect.getOwnPropertyDescriptor(load(), key);
        return desc && { ...desc, configurable: true };
      },
    });
  };
  const modules = new Map();
  for (const id of ${JSON.stringify(builtins)}) modules.set(id, lazyKeys[id] ? lazy(id) : builtin(id));
  const violations = [];
  const restore = [];
  const fail = (name) => {
    violations.push(name);
    throw new Error(\`\${name} was used while the start-up snapshot was built: module-level code must not depend on run-time state\`);
  };
  const guard = (object, key, name) => {
    const desc = Object.getOwnPropertyDescriptor(object, key);
    if (!desc) return;
    restore.push(() => Object.defineProperty(object, key, desc));
    if (typeof desc.value === 'function') {
      const original = desc.value;
      // A reference kept at build time still works at run time.
      const wrapped = function (...args) { if (building) fail(name); return Reflect.apply(original, this, args); };
      Object.defineProperty(object, key, { ...desc, value: wrapped });
    } else {
      Object.defineProperty(object, key, { configurable: true, enumerable: desc.enumerable, get: () => fail(name), set: () => fail(name) });
    }
  };
  for (const key of ['env', 'argv', 'execArgv', 'stdout', 'stderr', 'stdin', 'pid', 'ppid', 'title', 'cwd', 'chdir', 'umask', 'hrtime', 'uptime', 'getuid', 'geteuid', 'getgid', 'getegid', 'getgroups', 'dlopen']) guard(process, key, \`process.\${key}\`);
  const os = builtin('node:os');
  for (const key of ['homedir', 'tmpdir', 'hostname', 'userInfo', 'cpus', 'availableParallelism', 'totalmem', 'freemem', 'loadavg', 'uptime', 'networkInterfaces']) guard(os, key, \`os.\${key}\`);
  const crypto = builtin('node:crypto');
  for (const key of ['randomBytes', 'randomUUID', 'randomInt', 'randomFillSync']) guard(crypto, key, \`crypto.\${key}\`);
  guard(Date, 'now', 'Date.now');
  let user;
  const load = (id) => {
    if (!user) {
      const Module = builtin('node:module');
      const entry = new Module(__filename);
      entry.filename = __filename;
      entry.exports = exports;
      entry.loaded = true;
      Module._cache[__filename] = entry;
      user = Module.createRequire(__filename);
    }
    return user(id);
  };
  return {
    require: (id) => (id.startsWith('./') ? load(id) : modules.get(id) ?? builtin(id)),
    done() {
      building = false;
      for (const undo of restore.reverse()) undo();
      if (violations.length) throw new Error(\`start-up snapshot: run-time state used at build time: \${[...new Set(violations)].join(', ')}\`);
    },
  };
})(require);
var require = __berthSnapshot.require;
`;
}

export const SNAPSHOT_FOOTER = '__berthSnapshot.done();\n';

/** What a no-op build never loads (see snapshotBanner): its heaviest are child_process and zlib. */
export const LAZY_BUILTINS = ['node:child_process', 'node:zlib', 'node:readline/promises', 'node:url', 'node:timers/promises', 'node:stream/promises'];
