import { readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { isatty } from 'node:tty';
import { Option, type Command } from 'commander';
import { attachSource, BuildError } from '../source/index.ts';
import type { ParsedDockerfile } from '../syntax/ast.ts';
import { compileIgnore, findIgnoreFile, readIgnoreFile } from '../context/dockerignore.ts';
import type { ContextFilter } from '../context/walk.ts';
import { openStatCache, saveStatCache } from '../context/stat-cache.ts';
import { lockForBuild } from '../store/lock.ts';
import { normalizePlatform, parseBuildArgs, planBuild, TARGET_PLATFORM, type BuildPlan, type NetworkMode, type PlanOptions } from '../plan/index.ts';
import { parseNetworkMode } from '../exec/network.ts';
import { parseSourceDateEpoch } from '../layer/rewrite-times.ts';
import { describeRootless, userNamespace } from '../sys/userns.ts';
import { executePlan } from '../engine/build.ts';
import { loadSecrets, parseAllow } from './secrets.ts';
import { assembleImage } from '../engine/images.ts';
import type { CacheRecord } from '../cache/records.ts';
import { baseImages, exportCaches, importCaches, parseCacheFlags, pushTags } from './build-remote.ts';
import { createProgress, inStep, metadataLabel, parseProgressMode, planLabels, plannedStepCount, type Progress } from '../progress/index.ts';
import { normalizeName } from '../image/reference.ts';
import { readDockerfile } from './dockerfile.ts';
import { parseCacheDir } from '../store/parse-cache.ts';
import { distributionOf, exportImage, parseOutput, withAnnotationFlags, type OutputSpec } from './outputs.ts';
import { parseAnnotationFlags, type ImageAnnotations } from './annotations.ts';
import { randomBytes } from 'node:crypto';
import { blobPath } from '../content/index.ts';
import { MediaTypes } from '../image/descriptor.ts';
import type { PushedImage, PushOptions } from '../registry/index.ts';
import { collect, openStores, type Stores } from './store.ts';
import { contextIgnore, imageFacts, runCheck } from './check.ts';
import { CHECK_BUILD_ARG, lintDockerfile, RULES } from '../lint/index.ts';
import { shortWarning } from '../lint/report.ts';
import { addResourceOptions, resourceLimits, runSandboxOptions } from './sandbox-flags.ts';
import { gitContext, withoutGitDir } from './git-context.ts';
import { buildContexts } from './build-contexts.ts';
import { readStdinInput } from './stdin-context.ts';
import { isGitSource } from '../copy/match.ts';
import { openSshAgents, type SshAgents } from '../mounts/ssh.ts';
import { formatOutline, formatTargets, outlineOf, parseCall, type CallRequest } from './outline.ts';

interface BuildFlags {
  tag: string[]; file?: string; buildArg: string[]; target?: string; cache: boolean; network: string;
  progress: string; label: string[]; iidfile?: string; metadataFile?: string; output: string[];
  quiet?: boolean; jobs?: string; cacheFilter: string[]; secret: string[]; allow: string[];
  pull?: boolean; push?: boolean; cacheTo: string[]; cacheFrom: string[]; insecureRegistry: string[];
  check?: boolean;
  addHost: string[]; shmSize?: string; ulimit: string[];
  cgroupParent?: string; memory?: string; memorySwap?: string; cpuShares?: string; cpuPeriod?: string; cpuQuota?: string;
  cpusetCpus?: string; cpusetMems?: string;
  debugOnError?: boolean; debugOnErrorCommand?: string;
  call?: string; explainCache?: boolean; ssh: string[]; annotation: string[];
  /** Set for a git context: its `.git` stays out of the context. */
  gitContext?: boolean;
  buildContext: string[];
  platform?: string;
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

/** `--platform`: berth builds linux/amd64 images only, and says so for any other platform asked for. */
function checkPlatforms(value: string | undefined): void {
  if (value === undefined) return;
  for (const platform of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    if (!normalizePlatform(platform)) throw new BuildError(`berth builds ${TARGET_PLATFORM} images only; --platform ${platform} is not supported`);
  }
}

/**
 * How many steps may run at once. BuildKit sets no limit: most RUN steps wait on the network or
 * the disk, so capping them at the number of cores made independent stages queue (3 stages of
 * `RUN sleep 1` took 2.1 s on 2 cores against BuildKit's 1.2 s).
 */
function parseJobs(value: string | undefined): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  const jobs = Number(value);
  if (!Number.isInteger(jobs) || jobs < 1) throw new BuildError(`invalid --jobs "${value}" (a whole number, 1 or more)`);
  return jobs;
}

/**
 * `--debug-on-error`'s command in the failing container: a shell, or a command line for one
 * (`--debug-on-error=CMD`, which program.ts hands over as the hidden --debug-on-error-command so
 * that a bare flag never takes the context argument for its value).
 */
function debugCommand(flags: Pick<BuildFlags, 'debugOnError' | 'debugOnErrorCommand'>): string[] | undefined {
  if (flags.debugOnErrorCommand !== undefined) return ['/bin/sh', '-c', flags.debugOnErrorCommand];
  return flags.debugOnError ? ['/bin/sh'] : undefined;
}

/**
 * Whether missed steps say why: always in plain and rawjson logs (where a reader looks for it),
 * in the live display only with --explain-cache (which would otherwise fill with it).
 */
function explainsMisses(flags: Pick<BuildFlags, 'explainCache' | 'progress' | 'quiet'>): boolean {
  if (flags.explainCache) return true;
  const mode = flags.progress;
  return !flags.quiet && (mode === 'plain' || mode === 'rawjson' || (mode === 'auto' && !isatty(2)));
}

/** `--ssh`'s agents for the length of `work` (agents berth started for keys stop with it). */
async function withSshAgents<T>(flags: readonly string[], scratch: string, work: (ssh: SshAgents) => Promise<T>): Promise<T> {
  const ssh = await openSshAgents(flags, scratch);
  try {
    return await work(ssh);
  } finally {
    ssh.close();
  }
}

/** Whether any step reads the build context (BuildKit's `[internal] load build context` step). */
function readsContext(plan: BuildPlan): boolean {
  return plan.vertices.some((v) => (v.op.kind === 'copy' && v.op.from.kind === 'context')
    || (v.op.kind === 'run' && v.op.mounts.some((m) => m.type === 'bind' && (m.from === undefined || m.from.kind === 'context'))));
}

/** Each image's `[internal] load metadata for ...` step, the first time it is resolved. */
function metadataSteps(progress: Progress): <T>(ref: string, resolve: () => Promise<T>) => Promise<T> {
  const seen = new Set<string>();
  return (ref, resolve) => {
    if (seen.has(ref)) return resolve();
    seen.add(ref);
    return inStep(progress, metadataLabel(ref), resolve);
  };
}

/** `--call=outline|targets`: what the Dockerfile offers, from its text and plan; nothing is built. */
async function describeBuild(contextArg: string, flags: BuildFlags, call: CallRequest): Promise<void> {
  const contextDir = contextArg === '-' ? '.' : contextArg;
  const { parsed } = readDockerfile(contextArg === '-' ? (flags.file ?? '-') : flags.file, contextDir);
  try {
    if (call.method === 'targets') {
      process.stdout.write(formatTargets(parsed, call.json));
      return;
    }
    const { buildArgs } = buildArgsWithEpoch(flags.buildArg);
    const plan = await planBuild(parsed, { target: flags.target, buildArgs });
    process.stdout.write(formatOutline(outlineOf(parsed, plan, buildArgs), call.json));
  } catch (error) {
    throw attachSource(error, parsed.file, parsed.source);
  }
}

async function runBuild(contextArg: string, flags: BuildFlags, command: Command): Promise<void> {
  checkPlatforms(flags.platform);
  const call = parseCall(flags.call);
  if (flags.check || call.method === 'check') {
    await runCheck(contextArg, { file: flags.file, buildArg: flags.buildArg, format: call.json ? 'json' : 'text' }, command);
    return;
  }
  if (call.method === 'outline' || call.method === 'targets') {
    await describeBuild(contextArg, flags, call);
    return;
  }
  const quiet = flags.quiet === true;
  const mode = parseProgressMode(flags.progress);
  // A debug shell shares the terminal: the live display would draw over it.
  const progress = createProgress(quiet ? 'quiet' : debugCommand(flags) && (mode === 'auto' || mode === 'tty') ? 'plain' : mode);
  try {
    await buildWith(progress, contextArg, flags, command);
  } finally {
    progress.close();
  }
}

async function buildWith(progress: Progress, contextArg: string, flags: BuildFlags, command: Command): Promise<void> {
  const stores = openStores(command);
  const noContext = contextArg === '-';
  const git = isGitSource(contextArg)
    ? await inStep(progress, `[internal] load git source ${contextArg}`, () => gitContext(contextArg, stores.layout, parseBuildArgs(flags.buildArg).get('BUILDKIT_CONTEXT_KEEP_GIT_DIR') === '1'))
    : undefined;
  // `-`: a Dockerfile, or a tar of the context (then its Dockerfile is read from it).
  const stdin = noContext && flags.file === undefined ? await readStdinInput(stores.layout) : undefined;
  try {
    const contextDir = stdin?.contextDir ?? (noContext ? undefined : git?.dir ?? path.resolve(contextArg));
    if (contextDir && !statSync(contextDir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new BuildError(`unable to prepare context: path "${contextArg}" not found`);
    }
    const dockerfileArg = noContext && !stdin?.contextDir ? (flags.file ?? '-') : flags.file;
    const definition = `[internal] load build definition from ${dockerfileArg && dockerfileArg !== '-' ? path.basename(dockerfileArg) : 'Dockerfile'}`;
    const { parsed, path: dockerfilePath } = await inStep(progress, definition, () => readDockerfile(dockerfileArg, contextDir ?? '.', parseCacheDir(stores.layout.root), stdin?.dockerfile));
    try {
      await buildParsed(progress, stores, parsed, dockerfilePath, contextDir, { ...flags, gitContext: git !== undefined && !git.keepGitDir });
    } catch (error) {
      // Errors carry a range only; the code frame's text is attached here, once for every layer.
      throw attachSource(error, parsed.file, parsed.source);
    }
  } finally {
    stdin?.cleanup();
  }
}

/** Plans the image steps the base images need, with BuildKit's `load metadata` steps. */
async function planWithMetadata(
  progress: Progress, parsed: ParsedDockerfile, bases: ReturnType<typeof baseImages>, options: Omit<PlanOptions, 'resolveImage'>,
): Promise<BuildPlan> {
  const metadata = metadataSteps(progress);
  const plan = await planBuild(parsed, { ...options, resolveImage: (ref) => metadata(ref, () => bases.configFor(ref)) });
  // Images only COPY --from or RUN --mount read: resolved before the build, as BuildKit does.
  for (const ref of planLabels(plan).images) await metadata(ref, () => bases.configFor(ref));
  return plan;
}

/**
 * BuildKit's build checks before any step runs: their findings join the build's warnings (listed
 * at the end, a `warnings` entry in rawjson); with `error=true` a finding fails the build.
 */
async function runBuildChecks(
  progress: Progress, parsed: ParsedDockerfile, plan: BuildPlan,
  options: { buildArgs: Map<string, string>; bases: ReturnType<typeof baseImages>; contextDir: string | undefined; dockerfilePath: string },
): Promise<void> {
  const lint = await lintDockerfile(parsed, {
    buildArgs: options.buildArgs, ignore: await contextIgnore(options.contextDir, options.dockerfilePath),
    lookup: imageFacts(options.bases.imageFor), reachable: new Set(plan.stages.map((s) => s.index)),
  });
  for (const warning of lint.warnings) progress.warning(shortWarning(warning));
  if (lint.failure) throw new BuildError(lint.failure);
}

/** The flags read before anything runs, so a mistake in one costs no build. */
function checkedFlags(flags: BuildFlags) {
  const allow = parseAllow(flags.allow);
  const annotations = parseAnnotationFlags(flags.annotation);
  return {
    allow, network: buildNetwork(flags.network, allow), runSandbox: runSandboxOptions(flags), resources: resourceLimits(flags),
    annotations,
    outputs: withAnnotationFlags(flags.output.map(parseOutput), annotations),
    cacheFrom: parseCacheFlags(flags.cacheFrom, 'import'), cacheTo: parseCacheFlags(flags.cacheTo, 'export'),
    ...buildArgsWithEpoch(flags.buildArg),
  };
}

async function buildParsed(
  progress: Progress, stores: Stores, parsed: ParsedDockerfile, dockerfilePath: string, contextDir: string | undefined, flags: BuildFlags,
): Promise<void> {
  const { allow, network, runSandbox, resources, outputs, cacheFrom, cacheTo, buildArgs, epoch, annotations } = checkedFlags(flags);
  const quiet = flags.quiet === true;
  const log = (message: string): void => progress.message(message);
  if (userNamespace().rootless) log(`${describeRootless()}; RUN network: ${network === 'sandbox' ? 'slirp4netns' : network}`);
  const registry = { insecureRegistries: flags.insecureRegistry };
  const bases = baseImages(stores, { pull: flags.pull === true, registry, log });
  const tags = [...new Set([...flags.tag, ...outputs.flatMap((o) => o.names ?? [])])];
  const pushes = pushPlan(flags, outputs, annotations);
  for (const warning of droppedAnnotations(outputs)) progress.warning(warning);
  // Held from the first pull to the last tag, so prune never removes what this build brings in.
  const lock = await lockForBuild(stores.layout, () => log('waiting for berth prune to finish...'));
  let plan;
  try {
    // The check options are the linter's, not a build arg any instruction consumes.
    const planArgs = new Map(buildArgs);
    planArgs.delete(CHECK_BUILD_ARG);
    plan = await planWithMetadata(progress, parsed, bases, { target: flags.target, buildArgs: planArgs, network, runSandbox, namedContexts: await buildContexts(flags.buildContext, stores.layout) });
    await runBuildChecks(progress, parsed, plan, { buildArgs, bases, contextDir, dockerfilePath });
  } catch (error) {
    lock.release();
    throw error;
  }
  // Empty continuation lines are the NoEmptyContinuation check's now (and its skip= applies).
  const continuations = new Set<object>(parsed.warnings.filter((w) => w.url === RULES.NoEmptyContinuation.url));
  for (const warning of plan.warnings) if (!continuations.has(warning)) progress.warning(warning.message);
  const ignore = contextDir ? await inStep(progress, '[internal] load .dockerignore', () => contextFilter(contextDir, dockerfilePath)) : undefined;
  const filter = ignore && flags.gitContext ? withoutGitDir(ignore) : ignore;
  const loadContext = (dir: string) => openStatCache(stores.layout.contextCache, dir);
  const statCache = contextDir ? (readsContext(plan) ? await inStep(progress, '[internal] load build context', () => loadContext(contextDir)) : loadContext(contextDir)) : undefined;
  // The steps still to come: one FROM per image, the file system steps and the export.
  progress.expect(plannedStepCount(plan) + 1);
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => abort.abort(new BuildError(`build interrupted by ${signal}`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const records = new Map<string, CacheRecord>();
  try {
    await importCaches(stores, cacheFrom, registry, log, (m) => progress.warning(m));
    const result = await withSshAgents(flags.ssh, stores.layout.tmp, (ssh) => executePlan({
      layout: stores.layout, content: stores.content, plan, contextDir, contextFilter: filter,
      noCache: !flags.cache, noCacheStages: new Set(flags.cacheFilter.flatMap((f) => f.split(','))),
      statCache, progress,
      jobs: parseJobs(flags.jobs), signal: abort.signal,
      resolveBase: (ref, vertex) => bases.load(ref, vertex.range),
      onRecord: (vertex, record) => records.set(vertex.id, record),
      secrets: loadSecrets(flags.secret), allow, ssh, debugOnError: debugCommand(flags), explainMisses: explainsMisses(flags), sourceDateEpoch: epoch, resources,
    }));
    const image = await inStep(progress, 'exporting to image', async (step) => {
      const made = await assembleImage(stores.images, plan, result, {
        tags, labels: parseLabels(flags.label), content: stores.content,
        created: epoch === undefined ? undefined : new Date(epoch * 1000),
        rewriteTimestamps: epoch !== undefined && outputs.some((o) => o.rewriteTimestamp),
        annotations: storedAnnotations(outputs),
      });
      progress.status(step, `exporting manifest ${made.manifestDigest}`);
      progress.status(step, `exporting config ${made.configDigest}`);
      for (const tag of tags) progress.status(step, `naming to ${normalizeName(tag)}`);
      for (const output of outputs) await exportImage(stores, made.manifestDigest, flags.tag, output);
      return made;
    });
    const pushed = [];
    for (const p of pushes) pushed.push(...(await pushTags(stores, p.names, registry, log, p.options)));
    await exportCaches(stores, cacheTo, plan, records, registry, log, (m) => progress.warning(m));
    progress.close();
    if (flags.iidfile) writeFileSync(flags.iidfile, image.configDigest);
    if (flags.metadataFile) writeFileSync(flags.metadataFile, buildMetadata(stores, image, tags, pushed[0]));
    if (quiet) printLine(image.configDigest);
  } finally {
    if (statCache) saveStatCache(statCache);
    lock.release();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (abort.signal.aborted) process.exitCode = 130;
}

/** The stored image's manifest annotations: those of the type=image outputs (with no -o, --annotation's). */
function storedAnnotations(outputs: readonly OutputSpec[]): Record<string, string> | undefined {
  const merged = Object.assign({}, ...outputs.filter((o) => o.type === 'image').map((o) => o.annotations?.manifest ?? {})) as Record<string, string>;
  return Object.keys(merged).length > 0 ? merged : undefined;
}

/**
 * Descriptor annotations an output has no place for: the store and a push hold one manifest and no
 * index (BuildKit drops them there too). Said, not silently lost.
 */
function droppedAnnotations(outputs: readonly OutputSpec[]): string[] {
  return outputs.filter((o) => (o.type === 'image' || o.type === 'registry') && Object.keys(o.annotations?.manifestDescriptor ?? {}).length > 0)
    .map((o) => `manifest-descriptor annotations (${Object.keys(o.annotations!.manifestDescriptor).join(', ')}) are dropped for type=${o.type}: it writes a single manifest, with no index to hold its descriptor`);
}

/** The pushes a build makes: one per output with push=true (its names, else -t), and --push's. */
function pushPlan(flags: BuildFlags, outputs: OutputSpec[], annotations: ImageAnnotations): Array<{ names: string[]; options: Partial<PushOptions> }> {
  const plan = outputs.filter((o) => o.push).map((o): { names: string[]; options: Partial<PushOptions> } => {
    const d = distributionOf(o);
    const names = o.names?.length ? o.names : flags.tag;
    return { names, options: { compression: d.compression, compressionLevel: d.level, forceCompression: d.force, family: d.family, annotations: d.annotations } };
  });
  // --push alone pushes as type=registry does: gzip, OCI media types (BuildKit's defaults).
  if (flags.push === true && plan.length === 0) plan.push({ names: flags.tag, options: { compression: 'gzip', family: 'oci', annotations: annotations.manifest } });
  for (const p of plan) if (p.names.length === 0) throw new BuildError('--push needs at least one -t NAME (or name= in --output) to push to');
  return plan;
}

/**
 * `--metadata-file`: buildx's keys. The descriptor and digest are the pushed manifest's when the
 * build pushed (what a registry serves), else the stored image's.
 */
function buildMetadata(stores: Stores, image: { manifestDigest: string; configDigest: string }, tags: string[], pushed: PushedImage | undefined): string {
  const digest = pushed?.digest ?? image.manifestDigest;
  const size = pushed?.size ?? statSync(blobPath(stores.content, image.manifestDigest)).size;
  const mediaType = pushed?.mediaType ?? MediaTypes.ociManifest;
  return `${JSON.stringify({
    'buildx.build.ref': `berth/local/${randomBytes(13).toString('hex')}`,
    'containerimage.config.digest': image.configDigest,
    'containerimage.descriptor': { mediaType, digest, size },
    'containerimage.digest': digest,
    'image.name': tags.map(normalizeName).join(','),
  }, null, 2)}\n`;
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
  const build = program
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
    .option('--progress <mode>', 'auto (tty on a terminal, else plain), tty, plain, rawjson or quiet', 'auto')
    .option('--label <K=V>', 'set an image label', collect, [])
    .option('--iidfile <file>', 'write the image ID to this file')
    .option('--metadata-file <file>', 'write build result metadata to this file')
    .option('-o, --output <spec>', 'type=image|registry|docker|oci|local|tar[,dest=PATH|-][,name=N,push=true][,compression=gzip|zstd|uncompressed,compression-level=N,force-compression=true][,oci-mediatypes=BOOL]; - for a tar on stdout', collect, [])
    .option('-q, --quiet', 'print only the image ID')
    .option('--jobs <n>', 'steps to run at once (default: every step the graph allows, as BuildKit)')
    .option('--pull', 'always fetch base images from their registry')
    .option('--push', 'push the tagged image (same as --output type=registry)')
    .option('--annotation <[TYPE:]K=V>', 'an OCI annotation on every image output: K=V on the manifest; manifest-descriptor:K=V on its entry in an archive\'s index.json; a [linux/amd64] qualifier after the type', collect, [])
    .option('--cache-to <spec>', 'export build cache: type=registry,ref=REF or type=local,dest=DIR[,tag=T], with [,mode=min|max][,compression=gzip|zstd|uncompressed,compression-level=N,force-compression=true][,ignore-error=true][,cache-mounts=true,cache-mounts-max-size=1g,cache-mount-ids=a;b] (cache mounts: RUN --mount=type=cache directories)', collect, [])
    .option('--cache-from <spec>', 'import build cache: type=registry,ref=REF or type=local,src=DIR[,tag=T]; restores the cache mounts it carries into empty ones (cache-mounts=false: not)', collect, [])
    .option('--insecure-registry <host>', 'allow plain HTTP for this registry (loopback ones always are)', collect, [])
    .option('--platform <platforms>', `target platform (${TARGET_PLATFORM}, the only one berth builds)`)
    .option('--build-context <name=value>', 'a named context: NAME=PATH, NAME=docker-image://REF or NAME=<git url> (repeatable)', collect, [])
    .option('--ssh <spec>', 'SSH agent for RUN --mount=type=ssh: default, ID=SOCKET or ID=KEY[,KEY] (repeatable)', collect, [])
    .option('--secret <spec>', 'secret for RUN --mount=type=secret: id=NAME,src=FILE or id=NAME,env=VAR', collect, [])
    .option('--check', 'run the build checks instead of building (as berth check)')
    .option('--explain-cache', 'say for every step that missed the cache what changed since its last build')
    .option('--call <method>', 'build (default), check, outline or targets; outline and targets take ,format=json')
    .option('--add-host <name:ip>', 'an /etc/hosts entry in every RUN', collect, [])
    .option('--debug-on-error', 'when a RUN fails, open a shell in its container first (--debug-on-error=CMD runs CMD there)')
    .addOption(new Option('--debug-on-error-command <command>').hideHelp())
    .option('--shm-size <size>', 'size of /dev/shm in every RUN (default 64m)')
    .option('--ulimit <name=soft[:hard]>', 'a resource limit in every RUN (nofile, nproc, ...)', collect, []);
  addResourceOptions(build, 'every RUN')
    .option('--allow <entitlement>', 'grant an entitlement (security.insecure, network.host)', collect, [])
    .action((context: string, flags: BuildFlags, command: Command) => runBuild(context, flags, command));
}
