import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { BuildError } from '../source/index.ts';
import { MediaTypes } from '../image/descriptor.ts';
import { familiarName, parseReference, withDefaultTag } from '../image/reference.ts';
import type { RegistryOptions, TransferEvent } from '../registry/index.ts';

/** The registry client loads on first use: its HTTP stack costs every other command start-up time. */
const client = () => import('../registry/index.ts');
import { collect, withLockedStores } from './store.ts';
import { parseCompression, parseLevel } from '../image/layer-variants.ts';
import { unpackImage } from '../engine/images.ts';

/** `berth pull`, `berth push`, `berth login`, `berth logout`, with Docker's output lines. */

interface CommonFlags {
  insecureRegistry: string[];
  quiet?: boolean;
}

interface PushFlags extends CommonFlags {
  chunkSize?: string;
  compression?: string;
  compressionLevel?: string;
  forceCompression?: boolean;
}

function short(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** Docker prints layers only; configs (and manifests) are bookkeeping. */
const CONFIG_TYPES = new Set<string>([MediaTypes.ociConfig, MediaTypes.dockerConfig]);

function registryOptions(flags: CommonFlags, onProgress?: (event: TransferEvent) => void): RegistryOptions {
  const layersOnly = onProgress && ((event: TransferEvent) => {
    if (!CONFIG_TYPES.has(event.mediaType ?? '')) onProgress(event);
  });
  return { insecureRegistries: flags.insecureRegistry, ...(layersOnly && !flags.quiet ? { onProgress: layersOnly } : {}) };
}

function parsePlatform(text: string | undefined): RegistryOptions['platform'] {
  if (!text) return undefined;
  const [os, architecture, variant] = text.split('/');
  if (!os || !architecture) throw new BuildError(`invalid --platform "${text}": want os/arch[/variant]`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads a line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  process.stderr.write(question);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  let value = '';
  try {
    for await (const chunk of stdin) {
      for (const char of (chunk as Buffer).toString('utf8')) {
        if (char === '\r' || char === '\n') return value;
        if (char === '\u0003') throw new BuildError('login cancelled');
        if (char === '\u007f') value = value.slice(0, -1);
        else value += char;
      }
    }
    return value;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

async function loginCredentials(opts: { username?: string; password?: string; passwordStdin?: boolean }): Promise<{ username: string; password: string }> {
  let { username, password } = opts;
  if (opts.passwordStdin) {
    if (password !== undefined) throw new BuildError('--password and --password-stdin are mutually exclusive');
    if (!username) throw new BuildError('must provide --username with --password-stdin');
    password = await readStdin();
  } else if (password !== undefined) {
    process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (username === undefined || password === undefined) {
    if (!process.stdin.isTTY) throw new BuildError('cannot prompt for credentials: stdin is not a terminal (use -u and --password-stdin)');
    if (username === undefined) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      username = (await rl.question('Username: ')).trim();
      rl.close();
    }
    password ??= await promptHidden('Password: ');
  }
  return { username, password };
}

export function register(program: Command): void {
  program.command('pull').description('download an image from a registry')
    .argument('<ref>', 'image reference (NAME[:TAG|@DIGEST])')
    .option('--insecure-registry <host>', 'allow HTTP and unchecked TLS for this registry (repeatable)', collect, [])
    .option('--platform <os/arch>', 'platform to pick from multi-platform images', 'linux/amd64')
    .option('-q, --quiet', 'print only the image name')
    .action(async (ref: string, flags: CommonFlags & { platform?: string }, command: Command) => {
      const parsed = withDefaultTag(parseReference(ref));
      if (!flags.quiet) process.stdout.write(`${parsed.digest ?? parsed.tag}: Pulling from ${familiarName({ ...parsed, tag: undefined, digest: undefined })}\n`);
      let downloaded = false;
      const options = registryOptions(flags, (event) => {
        if (event.kind === 'exists') process.stdout.write(`${short(event.digest)}: Already exists\n`);
        else if (event.kind === 'downloaded') {
          downloaded = true;
          process.stdout.write(`${short(event.digest)}: Pull complete\n`);
        }
      });
      const pulled = await withLockedStores(command, 'use', async (stores) => {
        const image = await (await client()).pullImage(stores, ref, { ...options, platform: parsePlatform(flags.platform) });
        await unpackImage(stores.layout, stores.content, stores.images, image.manifestDigest);
        return image;
      });
      if (!flags.quiet) {
        process.stdout.write(`Digest: ${pulled.digest}\n`);
        const status = downloaded ? 'Downloaded newer image for' : 'Image is up to date for';
        process.stdout.write(`Status: ${status} ${familiarName(pulled.name)}\n`);
      }
      process.stdout.write(`${pulled.name}\n`);
    });

  program.command('push').description('upload an image to a registry')
    .argument('<ref>', 'local image name, which says where it goes (REGISTRY/REPO[:TAG])')
    .option('--insecure-registry <host>', 'allow HTTP and unchecked TLS for this registry (repeatable)', collect, [])
    .option('--chunk-size <bytes>', 'upload blobs larger than this in chunks of this size (0: never)')
    .option('--compression <type>', 'layer compression: gzip (default), zstd or uncompressed')
    .option('--compression-level <n>', 'gzip 0-9 (default 6), zstd 1-22 (default 3)')
    .option('--force-compression', 'compress again layers that already have the compression (a pulled gzip layer, say)')
    .option('-q, --quiet', 'print only the digest')
    .action(async (ref: string, flags: PushFlags, command: Command) => {
      const compression = flags.compression === undefined ? 'gzip' : parseCompression(flags.compression, 'for --compression');
      const compressionLevel = flags.compressionLevel === undefined ? undefined : parseLevel(flags.compressionLevel, compression, 'for --compression-level');
      const parsed = withDefaultTag(parseReference(ref));
      if (!flags.quiet) process.stdout.write(`The push refers to repository [${parsed.domain}/${parsed.path}]\n`);
      const options = registryOptions(flags, (event) => {
        if (event.kind === 'exists') process.stdout.write(`${short(event.digest)}: Layer already exists\n`);
        else if (event.kind === 'mounted') process.stdout.write(`${short(event.digest)}: Mounted from ${event.from}\n`);
        else if (event.kind === 'uploaded') process.stdout.write(`${short(event.digest)}: Pushed\n`);
      });
      const chunkSize = flags.chunkSize === undefined ? undefined : Number(flags.chunkSize);
      if (chunkSize !== undefined && (!Number.isSafeInteger(chunkSize) || chunkSize < 0)) throw new BuildError(`invalid --chunk-size "${flags.chunkSize}"`);
      // Under the store lock: the push may write compressed layers, which prune must not take midway.
      const pushed = await withLockedStores(command, 'use', async (stores) => (await client()).pushImage(stores, ref, {
        ...options, ...(chunkSize !== undefined ? { chunkSize } : {}), compression, compressionLevel, forceCompression: flags.forceCompression === true,
      }));
      if (flags.quiet) process.stdout.write(`${pushed.digest}\n`);
      else process.stdout.write(`${parsed.digest ?? parsed.tag}: digest: ${pushed.digest} size: ${pushed.size}\n`);
    });

  program.command('login').description('log in to a registry (credentials go to ~/.docker/config.json or its helper)')
    .argument('[registry]', 'registry host (default docker.io)')
    .option('-u, --username <name>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--insecure-registry <host>', 'allow HTTP and unchecked TLS for this registry (repeatable)', collect, [])
    .action(async (registry: string | undefined, flags: CommonFlags & { username?: string; password?: string; passwordStdin?: boolean }) => {
      const credentials = await loginCredentials(flags);
      const result = await (await client()).login(registry, credentials, registryOptions(flags));
      process.stderr.write(`Credentials stored in ${result.storedIn}\n`);
      process.stdout.write('Login Succeeded\n');
    });

  program.command('logout').description('forget the credentials for a registry')
    .argument('[registry]', 'registry host (default docker.io)')
    .action(async (registry: string | undefined) => {
      const { logout, normalizeRegistry } = await client();
      const name = normalizeRegistry(registry);
      if (await logout(registry)) process.stdout.write(`Removing login credentials for ${name}\n`);
      else process.stdout.write(`Not logged in to ${name}\n`);
    });
}
