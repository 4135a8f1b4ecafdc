/**
 * What this berth is: `berth --version` in one line, `berth version` in full. The build (the hash
 * of every source file and the lockfile) and the commit are baked in by whatever bundled it
 * (scripts/bundle.ts, scripts/sea.ts); running from the TypeScript sources there is neither.
 */
import type { Command } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };

export interface BuildInfo {
  id: string;
  /** git's short commit, "-dirty" when the sources differed from it; absent outside git. */
  commit?: string;
  /** True in the single executable. */
  executable?: boolean;
}

declare const __BERTH_BUILD__: BuildInfo | undefined;

export const BUILD: BuildInfo | undefined = typeof __BERTH_BUILD__ === 'object' ? __BERTH_BUILD__ : undefined;

/** `0.1.0 (commit 7c9260e1a2b3, build 02a2370506a1)`, or `0.1.0 (sources)`. */
export function versionLine(build = BUILD): string {
  if (!build) return `${packageJson.version} (sources)`;
  return `${packageJson.version} (${build.commit ? `commit ${build.commit}, ` : ''}build ${build.id.slice(0, 12)})`;
}

/** How this process runs berth: read at run time (the snapshot is made before any of it is known). */
function runsFrom(): string {
  if (BUILD?.executable) return `single executable ${process.execPath}`;
  const blob = process.execArgv.indexOf('--snapshot-blob');
  if (blob >= 0) return `start-up snapshot ${process.execArgv[blob + 1]}`;
  return BUILD ? `bundle ${process.argv[1]}` : `sources ${process.argv[1]}`;
}

export function register(program: Command): void {
  program
    .command('version')
    .description('print the version, the build and what berth runs from')
    .action(() => {
      const lines = [
        `berth ${packageJson.version}`,
        `commit: ${BUILD?.commit ?? 'unknown'}`,
        `build: ${BUILD?.id ?? 'none (from the TypeScript sources)'}`,
        `node: ${process.version}`,
        `runs from: ${runsFrom()}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
