import type { BuildPlan, PlannedStage, Vertex } from '../plan/types.ts';
import { formatReference, parseReference, withDefaultTag } from '../image/reference.ts';

/**
 * Step names as BuildKit's Dockerfile frontend gives them, so a berth log reads like a BuildKit
 * one: `[stage-1 2/3] COPY --from=build /out /out`, `[1/3] FROM docker.io/library/busybox:local@sha256:…`.
 *
 * - Only steps that change the file system are numbered: FROM of an image, RUN, COPY, ADD and
 *   WORKDIR (ONBUILD triggers of the base included). ARG, ENV, LABEL, CMD... are not steps, and
 *   neither is `FROM scratch` or `FROM <stage>` (BuildKit makes no vertex for them).
 * - The stage is named `name` when it has one, else `stage-N` (N its index in the Dockerfile),
 *   and not at all when the Dockerfile has one stage (named or not) and reads no other image.
 * - The number is padded to the total's width (`[ 2/12]`), as BuildKit's `%*d` does.
 * - An image used by several stages (or COPY --from, RUN --mount from=) is one step, named after
 *   the first stage that is built FROM it; an image no stage is built from is `FROM <ref>` alone.
 */
export interface StepLabels {
  /** RUN/COPY/ADD/WORKDIR vertices by id. */
  steps: ReadonlyMap<string, string>;
  /** The `[stage k/n] ` prefix of each image's FROM step, by the reference as written. */
  fromPrefix: ReadonlyMap<string, string>;
  /** Every image the build reads (stage bases first), each one FROM step. */
  images: readonly string[];
}

const FILESYSTEM = new Set(['run', 'copy', 'workdir']);

/** What BuildKit adds to a RUN with a heredoc: its first line, `...` when there are more. */
function heredocSummary(content: string): string {
  const lines = content.trim().replaceAll('\r\n', '\n').split('\n');
  return lines.length > 1 ? `${lines[0]}...` : lines[0];
}

/** The instruction as BuildKit names it: the logical line as written (continuations joined). */
export function instructionText(vertex: Vertex): string {
  const text = vertex.text.trim();
  const op = vertex.op;
  if (op.kind === 'run' && op.heredocs.length > 0) return `${text} (${heredocSummary(op.heredocs[0].content)})`;
  return text;
}

function stagePrefix(stageName: string, index: number, total: number): string {
  const width = String(total).length;
  return `[${stageName ? `${stageName} ` : ''}${String(index).padStart(width)}/${total}] `;
}

/**
 * ONBUILD triggers run at the FROM line: the planner gives them the FROM's range. BuildKit marks
 * them `ONBUILD ` after the number.
 */
function isTrigger(vertex: Vertex, source: Vertex): boolean {
  return vertex.range.start.line === source.range.start.line && vertex.range.start.column === source.range.start.column;
}

function stageLabels(stage: PlannedStage, stageName: string, byId: ReadonlyMap<string, Vertex>, steps: Map<string, string>): string | undefined {
  const vertices = stage.vertices.map((id) => byId.get(id)!);
  const fromImage = stage.base.kind === 'image';
  const counted = vertices.filter((v) => FILESYSTEM.has(v.op.kind));
  const total = counted.length + (fromImage ? 1 : 0);
  let index = fromImage ? 1 : 0;
  const source = vertices[0];
  for (const vertex of counted) {
    index++;
    const onbuild = isTrigger(vertex, source) ? 'ONBUILD ' : '';
    steps.set(vertex.id, `${stagePrefix(stageName, index, total)}${onbuild}${instructionText(vertex)}`);
  }
  return fromImage ? stagePrefix(stageName, 1, total) : undefined;
}

/** Labels of every step of `plan`. */
export function planLabels(plan: BuildPlan): StepLabels {
  const byId = new Map(plan.vertices.map((v) => [v.id, v]));
  const readsImages = plan.stages.some((s) => s.imageRefs.length > 0);
  const named = (plan.stageCount ?? plan.stages.length) > 1 || readsImages;
  const steps = new Map<string, string>();
  const fromPrefix = new Map<string, string>();
  const images: string[] = [];
  for (const stage of plan.stages) {
    const prefix = stageLabels(stage, named ? (stage.name ?? `stage-${stage.index}`) : '', byId, steps);
    if (stage.base.kind === 'image' && !fromPrefix.has(stage.base.ref)) {
      fromPrefix.set(stage.base.ref, prefix!);
      images.push(stage.base.ref);
    }
  }
  for (const ref of plan.stages.flatMap((s) => s.imageRefs)) if (!images.includes(ref)) images.push(ref);
  return { steps, fromPrefix, images };
}

const memo = new WeakMap<BuildPlan, StepLabels>();

function labelsOf(plan: BuildPlan): StepLabels {
  let labels = memo.get(plan);
  if (!labels) {
    labels = planLabels(plan);
    memo.set(plan, labels);
  }
  return labels;
}

/** The label of a RUN/COPY/ADD/WORKDIR vertex. */
export function stepLabel(plan: BuildPlan, vertex: Vertex): string {
  return labelsOf(plan).steps.get(vertex.id) ?? instructionText(vertex);
}

/**
 * The image as BuildKit names it in FROM steps: normalised, pinned to the digest it resolved to
 * (`docker.io/library/busybox:local@sha256:…`); a reference with a digest already keeps it.
 */
export function pinnedName(ref: string, digest?: string): string {
  let parsed;
  try {
    parsed = parseReference(ref);
  } catch {
    return ref;
  }
  if (parsed.digest === undefined && digest) return `${formatReference(withDefaultTag(parsed))}@${digest}`;
  return formatReference(parsed.digest === undefined ? withDefaultTag(parsed) : parsed);
}

/** The FROM step of an image (`ref` as written in the Dockerfile), once resolved to `digest`. */
export function imageLabel(plan: BuildPlan, ref: string, digest?: string): string {
  return `${labelsOf(plan).fromPrefix.get(ref) ?? ''}FROM ${pinnedName(ref, digest)}`;
}

/** How many steps the plan shows: one FROM per image read, one per file system step. */
export function plannedStepCount(plan: BuildPlan): number {
  const labels = labelsOf(plan);
  return labels.steps.size + labels.images.length;
}

/** The `[internal] load metadata for …` step of an image reference. */
export function metadataLabel(ref: string): string {
  let name = ref;
  try {
    name = formatReference(withDefaultTag(parseReference(ref)));
  } catch {
    // An invalid reference fails later with its own error; the label keeps it as written.
  }
  return `[internal] load metadata for ${name}`;
}
