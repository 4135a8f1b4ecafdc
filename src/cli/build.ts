import { readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { BuildError } from '../source/index.ts';
import { compileIgnore, findIgnoreFile, readIgnoreFile } from '../context/dockerignore.ts';
import type { ContextFilter } from '../context/walk.ts';
import { openStatCache, saveStatCache } from '../context/stat-cache.ts';
import { lockForBuild } from '../store/lock.ts';
import { parseBuildArgs, planBuild, type NetworkMode } from '../plan/index.ts';
import { parseNetworkMode } from '../exec/network.ts';
import { parseSourceDateEpoch } from '../layer/rewrite-times.ts';
import { describeRootless, userNamespace } from '../sys/userns.ts';
import { executePlan } from '../engine/build.ts';
import { loadSecrets, parseAllow } from '../engine/secrets.ts';
import { assembleImage } from '../engine/images.ts';
import type { CacheRecord } from '../engine/cache-records.ts';
import { baseImages, exportCaches, importCaches, pushTags } from './build-remote.ts';
import { createProgress, type ProgressMode } from '../engine/progress.ts';
import { readDockerfile } from './dockerfile.ts';
import { parseCacheDir } from '../store/parse-cache.ts';
import { exportImage, parseOutput } from './outputs.ts';
import { collect, openStores } from './store.ts';
import { contextIgnore, imageFacts, runCheck } from './check.ts';
import { CHECK_BUILD_ARG, lintDockerfile, RULES, type LintWarning } from '../lint/index.ts';
import { formatBuildWarnings } from '../lint/report.ts';

interface BuildFlags {
  tag: string[]; file?: string; buildArg: string[]; target?: string; cache: boolean; network: string;
  progress: string; label: string[]; iidfile?: string; metadataFile?: string; output: string[];
  quiet?: boolean; jobs?: string; cacheFilter: string[]; secret: string[]; allow: string[];
  pull?: boolean; push?: boolean; cacheTo: string[]; cacheFrom: string[]; insecureRegistry: string[];
  check?: boolean;
}

async function contextFilter(contextDir: string, dockerfilePath: string): Promise<ContextFilter> {
  const file = await findIgnoreFile(contextDir, dockerfilePath);
  if (!file) return { excluded: () => false, mustDescend: () => false };
  let matcher;
  try {
    matcher = compileIgnore(readIgnoreFile(readFileSync(file, 'utf8')));
  } catch (error) {
    throw new BuildError(`${path.basename(file)}: ${(error as Error).message}`);
  }
  return { excluded: (rel) => matcher.matches(rel), mustDescend: (rel) => matcher.mayContainIncluded(rel) };
}

function parseLabels(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    out[eq < 0 ? pair : pair.slice(0, eq)] = eq < 0 ? '' : pair.slice(eq + 1);
  }
  return out;
}

/**
 * Build args, with SOURCE_DATE_EPOCH from the environment when no --build-arg sets it (as buildx
 * passes it), and that epoch in seconds.
 */
function buildArgsWithEpoch(flags: string[]): { buildArgs: Map<string, string>; epoch?: number } {
  const buildArgs = parseBuildArgs(flags);
  const fromEnv = process.env.SOURCE_DATE_EPOCH;
  if (!buildArgs.has('SOURCE_DATE_EPOCH') && fromEnv) buildArgs.set('SOURCE_DATE_EPOCH', fromEnv);
  try {
    return { buildArgs, epoch: parseSourceDateEpoch(buildArgs.get('SOURCE_DATE_EPOCH')) };
  } catch (error) {
    throw new BuildError((error as Error).message);
  }
}

/** The build's `--network`; the host's network is an entitlement, as in BuildKit. */
function buildNetwork(value: string, allow: readonly string[]): NetworkMode {
  const mode = parseNetworkMode(value);
  if (!mode) throw new BuildError(`unsupported --network "${value}" (default, none or host)`);
  if (mode === 'host' && !allow.includes('network.host')) {
    throw new BuildError('--network host needs the network.host entitlement: add --allow network.host');
  }
  return mode;
}

async function runBuild(contextArg: string, flags: BuildFlags, command: Command): Promise<void> {
  if (flags.check) {
    await runCheck(contextArg, { file: flags.file, buildArg: flags.buildArg, format: 'text' }, command);
    return;
  }
  const stores = openStores(command);
  const noContext = contextArg === '-';
  const contextDir = noContext ? undefined : path.resolve(contextArg);
  if (contextDir && !statSync(contextDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new BuildError(`unable to prepare context: path "${contextArg}" not found`);
  }
  const dockerfileArg = noContext ? (flags.file ?? '-') : flags.file;
  const { parsed, path: dockerfilePath } = readDockerfile(dockerfileArg, contextDir ?? '.', parseCacheDir(stores.layout.root));
  const allow = parseAllow(flags.allow);
  const network = buildNetwork(flags.network, allow);
  const outputs = flags.output.map(parseOutput);
  const { buildArgs, epoch } = buildArgsWithEpoch(flags.buildArg);
  const quiet = flags.quiet === true;
  const log = (message: string): void => { if (!quiet) process.stderr.write(`${message}\n`); };
  if (userNamespace().rootless) log(`${describeRootless()}; RUN network: ${network === 'sandbox' ? 'slirp4netns' : network}`);
  const registry = { insecureRegistries: flags.insecureRegistry };
  const bases = baseImages(stores, { pull: flags.pull === true, registry, log });
  const push = flags.push === true || outputs.some((o) => o.type === 'registry');
  if (push && flags.tag.length === 0) throw new BuildError('--push needs at least one -t NAME to push to');
  // Held from the first pull to the last tag, so prune never removes what this build brings in.
  const lock = await lockForBuild(stores.layout, () => process.stderr.write('waiting for berth prune to finish...\n'));
  let plan;
  let lintWarnings: LintWarning[];
  try {
    // The check options are the linter's, not a build arg any instruction consumes.
    const planArgs = new Map(buildArgs);
    planArgs.delete(CHECK_BUILD_ARG);
    plan = await planBuild(parsed, {
      target: flags.target, buildArgs: planArgs, network,
      resolveImage: (ref) => bases.configFor(ref),
    });
    const lint = await lintDockerfile(parsed, {
      buildArgs, ignore: await contextIgnore(contextDir, dockerfilePath), lookup: imageFacts(bases.imageFor),
      reachable: new Set(plan.stages.map((s) => s.index)),
    });
    // With error=true, BuildKit fails the build before any step runs.
    if (lint.failure) {
      if (!quiet) process.stderr.write(formatBuildWarnings(lint.warnings));
      throw new BuildError(lint.failure);
    }
    lintWarnings = lint.warnings;
  } catch (error) {
    lock.release();
    throw error;
  }
  const progressMode = quiet ? 'quiet' : (flags.progress as ProgressMode);
  const progress = createProgress(progressMode);
  // Empty continuation lines are the NoEmptyContinuation check's now (and its skip= applies).
  const parserWarnings = new Set<object>(parsed.warnings.filter((w) => w.url === RULES.NoEmptyContinuation.url));
  for (const warning of plan.warnings) if (!parserWarnings.has(warning)) process.stderr.write(`[warning]: ${warning.message}\n`);
  // As buildx: the build checks' findings after the build, not in quiet or rawjson output.
  const printLintWarnings = () => { if (progressMode !== 'quiet' && progressMode !== 'rawjson') process.stderr.write(formatBuildWarnings(lintWarnings)); };
  const statCache = contextDir ? openStatCache(path.join(stores.layout.root, 'context-cache'), contextDir) : undefined;
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => abort.abort(new BuildError(`build interrupted by ${signal}`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const records = new Map<string, CacheRecord>();
  try {
    await importCaches(stores, flags.cacheFrom, registry, log);
    const result = await executePlan({
      layout: stores.layout, content: stores.content, plan, source: parsed.source, contextDir,
      contextFilter: contextDir ? await contextFilter(contextDir, dockerfilePath) : undefined,
      noCache: !flags.cache, noCacheStages: new Set(flags.cacheFilter.flatMap((f) => f.split(','))),
      statCache, progress,
      jobs: flags.jobs ? Number(flags.jobs) : os.availableParallelism(), signal: abort.signal,
      resolveBase: (ref, vertex) => bases.load(ref, vertex.range, parsed.source),
      onRecord: (vertex, record) => records.set(vertex.id, record),
      secrets: loadSecrets(flags.secret), allow,
    });
    const step = progress.start('exporting to image');
    const image = await assembleImage(stores.images, plan, result, {
      tags: flags.tag, labels: parseLabels(flags.label), content: stores.content,
      created: epoch === undefined ? undefined : new Date(epoch * 1000),
      rewriteTimestamps: epoch !== undefined && outputs.some((o) => o.rewriteTimestamp),
    });
    for (const output of outputs) await exportImage(stores, image.manifestDigest, flags.tag, output);
    progress.done(step);
    if (push) await pushTags(stores, flags.tag, registry, log);
    await exportCaches(stores, flags.cacheTo, plan, records, registry, log);
    progress.close();
    if (flags.iidfile) writeFileSync(flags.iidfile, image.configDigest);
    if (flags.metadataFile) {
      writeFileSync(flags.metadataFile, `${JSON.stringify({ 'containerimage.digest': image.manifestDigest, 'containerimage.config.digest': image.configDigest, 'image.name': flags.tag.join(',') }, null, 2)}\n`);
    }
    if (quiet) printLine(image.configDigest);
    else process.stderr.write(`writing image ${image.configDigest} done${flags.tag.length ? `; naming to ${flags.tag.join(', ')}` : ''}\n`);
  } finally {
    if (statCache) saveStatCache(statCache);
    lock.release();
    progress.close();
    printLintWarnings();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (abort.signal.aborted) process.exitCode = 130;
}

/**
 * One short line on standard output without making process.stdout: its stream machinery is the
 * only part of it a quiet build would use, and costs a no-op build more than the write. A
 * descriptor left non-blocking by someone else may refuse (EAGAIN): then the stream does it.
 */
function printLine(text: string): void {
  try {
    writeSync(1, `${text}\n`);
  } catch {
    process.stdout.write(`${text}\n`);
  }
}

export function register(program: Command): void {
  program
    .command('build')
    .description('build an image from a Dockerfile')
    .argument('<context>', 'build context directory, or - for a Dockerfile on stdin and no context')
    .option('-t, --tag <name>', 'name and optionally tag the image', collect, [])
    .option('-f, --file <file>', 'Dockerfile (default <context>/Dockerfile)')
    .option('--build-arg <K=V>', 'set a build argument', collect, [])
    .option('--target <stage>', 'build up to this stage')
    .option('--no-cache', 'do not use the build cache')
    .option('--no-cache-filter <stages>', 'do not use the cache for these stages (comma list, repeatable)', collect, [])
    .option('--network <mode>', 'networking for RUN: default (own network namespace, outbound access), none, or host (needs --allow network.host)', 'default')
    .option('--progress <mode>', 'auto, tty, plain, rawjson or quiet', 'auto')
    .option('--label <K=V>', 'set an image label', collect, [])
    .option('--iidfile <file>', 'write the image ID to this file')
    .option('--metadata-file <file>', 'write build result metadata to this file')
    .option('-o, --output <spec>', 'type=image|docker|oci|local|tar[,dest=...]', collect, [])
    .option('-q, --quiet', 'print only the image ID')
    .option('--jobs <n>', 'steps to run at once (default: the number of cores)')
    .option('--pull', 'always fetch base images from their registry')
    .option('--push', 'push the tagged image (same as --output type=registry)')
    .option('--cache-to <spec>', 'export build cache: type=registry,ref=REF[,mode=min|max] or type=local,dest=DIR', collect, [])
    .option('--cache-from <spec>', 'import build cache: type=registry,ref=REF or type=local,src=DIR', collect, [])
    .option('--insecure-registry <host>', 'allow plain HTTP for this registry (loopback ones always are)', collect, [])
    .option('--secret <spec>', 'secret for RUN --mount=type=secret: id=NAME,src=FILE or id=NAME,env=VAR', collect, [])
    .option('--check', 'run the build checks instead of building (as berth check)')
    .option('--allow <entitlement>', 'grant an entitlement (security.insecure, network.host)', collect, [])
    .action((context: string, flags: BuildFlags, command: Command) => runBuild(context, flags, command));
}
