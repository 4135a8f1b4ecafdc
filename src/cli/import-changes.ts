import { parseDockerfile } from '../syntax/index.ts';
import { planBuild } from '../plan/index.ts';
import type { ContainerConfig } from '../plan/index.ts';

/** `import -c 'ENV A=b'`: the changes are applied as Dockerfile lines over an empty image. */
export async function configFromChanges(changes: string[]): Promise<ContainerConfig> {
  const text = ['FROM scratch', ...changes].join('\n');
  const plan = await planBuild(parseDockerfile(`${text}\n`, '--change'));
  const config = plan.stages[0].config;
  if (!changes.some((c) => /^\s*env\b/i.test(c))) delete config.Env;
  return config;
}
