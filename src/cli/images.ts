import type { Command } from 'commander';
import type { Readable, Writable } from 'node:stream';
import { BuildError } from '../source/index.ts';
import { loadArchive } from '../image/archive-load.ts';
import { saveDockerArchive, saveOciArchive } from '../image/archive-save.ts';
import { importRootfs } from '../image/commit.ts';
import { familiarName } from '../image/reference.ts';
import { findImage, listImages, loadResolved, removeImage, resolveImage, tagImage } from '../image/store.ts';
import { collect, openStores, withLockedStores } from './store.ts';
import { unpackImage } from '../engine/images.ts';
import { formatColumns, formatSize } from '../text/units.ts';

function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

function age(iso: string | undefined): string {
  if (!iso) return '';
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return 'less than a minute ago';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} minutes ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} hours ago`;
  return `${Math.floor(seconds / 86400)} days ago`;
}

async function mustResolve(command: Command, name: string) {
  const { images } = openStores(command);
  const image = await resolveImage(images, name);
  if (!image) throw new BuildError(`no such image: ${name}`);
  return image;
}

/** images: what the store holds. */
function registerListing(program: Command): void {
  program.command('images').description('list images')
    .option('-q, --quiet', 'only IDs')
    .action(async (opts: { quiet?: boolean }, command: Command) => {
      const { images } = openStores(command);
      const rows: string[][] = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
      for (const record of await listImages(images)) {
        const resolved = await loadResolved(images, record);
        const size = resolved.manifest.layers.reduce((n, l) => n + l.size, 0);
        const names = record.names.length ? record.names : ['<none>:<none>'];
        for (const name of names) {
          if (opts.quiet) { rows.push([shortId(record.config)]); continue; }
          const familiar = name === '<none>:<none>' ? name : familiarName(name);
          const at = familiar.lastIndexOf(':');
          rows.push([familiar.slice(0, at), familiar.slice(at + 1), shortId(record.config), age(resolved.config.created), formatSize(size)]);
        }
      }
      if (opts.quiet) { process.stdout.write(rows.slice(1).map((r) => r[0]).join('\n') + (rows.length > 1 ? '\n' : '')); return; }
      process.stdout.write(formatColumns(rows, 3));
    });

}

/** tag, rmi: names of images. */
function registerNaming(program: Command): void {
  program.command('tag').description('give an image another name')
    .argument('<source>').argument('<target>')
    .action(async (source: string, target: string, _o: unknown, command: Command) => {
      const { images } = openStores(command);
      const record = await findImage(images, source);
      if (!record) throw new BuildError(`no such image: ${source}`);
      await tagImage(images, target, record.digest);
    });

  program.command('rmi').description('remove images')
    .argument('<images...>').option('-f, --force', 'remove even when several names point at it')
    .action(async (names: string[], opts: { force?: boolean }, command: Command) => {
      const { images } = openStores(command);
      for (const name of names) {
        const result = await removeImage(images, name, { force: opts.force });
        for (const n of result.untagged) process.stdout.write(`Untagged: ${n}\n`);
        if (result.deleted) process.stdout.write(`Deleted: ${result.deleted}\n`);
      }
    });

}

/** inspect, history: one image in detail. */
function registerInspection(program: Command): void {
  program.command('inspect').description('show an image\'s manifest and config as JSON')
    .argument('<images...>')
    .action(async (names: string[], _o: unknown, command: Command) => {
      const out = [];
      for (const name of names) {
        const image = await mustResolve(command, name);
        out.push({
          Id: image.record.config, Digest: image.record.digest, RepoTags: image.names.map((n) => familiarName(n)),
          Created: image.config.created, Author: image.config.author, Architecture: image.config.architecture, Os: image.config.os,
          Config: image.config.config ?? {}, RootFS: { Type: 'layers', Layers: image.config.rootfs.diff_ids },
          Manifest: image.manifest,
        });
      }
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });

  program.command('history').description('show the steps an image was built from')
    .argument('<image>').option('--no-trunc', 'do not truncate output')
    .action(async (name: string, opts: { trunc: boolean }, command: Command) => {
      const image = await mustResolve(command, name);
      const layers = [...image.manifest.layers];
      const rows = (image.config.history ?? []).map((h) => {
        const size = h.empty_layer ? 0 : (layers.shift()?.size ?? 0);
        const by = h.created_by ?? '';
        return [age(h.created), opts.trunc && by.length > 45 ? `${by.slice(0, 44)}…` : by, formatSize(size), h.comment ?? ''];
      }).reverse();
      process.stdout.write(`${['CREATED', 'CREATED BY', 'SIZE', 'COMMENT'].join('\t')}\n`);
      for (const row of rows) process.stdout.write(`${row.join('\t')}\n`);
    });

}

/** Standard output for an archive, as `docker save` has it: never a terminal. */
function archiveStdout(): Writable {
  if (process.stdout.isTTY) throw new BuildError('cowardly refusing to save to a terminal: use the -o flag or redirect standard output');
  return process.stdout;
}

/** Standard input for an archive; a terminal there means the user forgot the archive. */
function archiveStdin(what: string): Readable {
  if (process.stdin.isTTY) throw new BuildError(`requested ${what} from standard input, but it is a terminal: give a file${what === 'load' ? ' with -i' : ''} or pipe an archive in`);
  return process.stdin;
}

/** save, load, import: images in and out of archives. */
function registerArchives(program: Command): void {
  program.command('save').description('write images to a docker-archive or OCI archive')
    .argument('<images...>').option('-o, --output <file>', 'archive to write (default: standard output, when it is not a terminal)')
    .option('--format <format>', 'docker or oci', 'docker')
    .action(async (names: string[], opts: { output?: string; format: string }, command: Command) => {
      const { images } = openStores(command);
      if (opts.format !== 'docker' && opts.format !== 'oci') throw new BuildError(`unknown --format "${opts.format}" (docker or oci)`);
      for (const name of names) await mustResolve(command, name);
      const out = opts.output === undefined || opts.output === '-' ? archiveStdout() : opts.output;
      if (opts.format === 'docker') await saveDockerArchive(images, names, out);
      else await saveOciArchive(images, names, out);
    });

  program.command('load').description('load images from a docker-archive or OCI archive')
    .option('-i, --input <file>', 'archive to read (default or -: standard input)')
    .action((opts: { input?: string }, command: Command) => withLockedStores(command, 'use', async ({ images, layout, content }) => {
      const source = opts.input === undefined || opts.input === '-' ? archiveStdin('load') : opts.input;
      for (const image of await loadArchive(images, source)) {
        await unpackImage(layout, content, images, image.digest);
        if (image.names.length) for (const n of image.names) process.stdout.write(`Loaded image: ${familiarName(n)}\n`);
        else process.stdout.write(`Loaded image ID: ${image.digest}\n`);
      }
    }));

  program.command('import').description('make a one-layer image from a root file system tarball')
    .argument('<tarball>', 'root file system tar (plain, gzip, zstd, bzip2 or xz), or - for standard input').argument('[name]')
    .option('-c, --change <instruction>', 'ENV, CMD, ENTRYPOINT, WORKDIR, USER, LABEL or EXPOSE to apply', collect, [])
    .action(async (file: string, name: string | undefined, opts: { change: string[] }, command: Command) => {
      const { configFromChanges } = await import('./import-changes.ts');
      const config = await configFromChanges(opts.change);
      // Prune must not collect the new blobs before the image that needs them is recorded.
      const written = await withLockedStores(command, 'use', async ({ images, layout, content }) => {
        const image = await importRootfs(images, file === '-' ? archiveStdin('import') : file, name, { config, comment: `Imported from ${file}` });
        await unpackImage(layout, content, images, image.record.digest);
        return image;
      });
      process.stdout.write(`${written.config.digest}\n`);
    });
}

export function register(program: Command): void {
  registerListing(program);
  registerNaming(program);
  registerInspection(program);
  registerArchives(program);
}
