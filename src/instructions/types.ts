import type { SourceRange } from '../source/range.ts';
import type { Heredoc } from '../syntax/ast.ts';
import type { FlagValue } from './flags.ts';

/**
 * Typed instructions: what each Dockerfile line means, before variable expansion (which depends on
 * the stage's state and so happens in the plan). Words stay as written; the plan expands the ones
 * the Dockerfile reference says are expanded.
 */

/** RUN/CMD/ENTRYPOINT/HEALTHCHECK command: exec form is argv, shell form is one string. */
export type CommandForm = { form: 'exec'; argv: string[] } | { form: 'shell'; script: string };

interface Base {
  range: SourceRange;
  /** The logical line as written (for history and progress). */
  original: string;
}

export interface FromInstruction extends Base { kind: 'from'; image: string; stageName?: string; platform?: FlagValue }
export interface RunInstruction extends Base {
  kind: 'run'; command: CommandForm; heredocs: Heredoc[];
  mounts: FlagValue[]; network?: FlagValue; security?: FlagValue; devices: FlagValue[];
}
export interface CmdInstruction extends Base { kind: 'cmd'; command: CommandForm }
export interface EntrypointInstruction extends Base { kind: 'entrypoint'; command: CommandForm }
export interface ShellInstruction extends Base { kind: 'shell'; shell: string[] }

export interface KeyValue { key: string; value: string }
export interface EnvInstruction extends Base { kind: 'env'; pairs: KeyValue[] }
export interface LabelInstruction extends Base { kind: 'label'; pairs: KeyValue[] }
export interface ArgDeclaration { name: string; defaultValue?: string }
export interface ArgInstruction extends Base { kind: 'arg'; args: ArgDeclaration[] }

/** COPY and ADD share their shape; ADD has its own flags. */
export interface CopyInstruction extends Base {
  kind: 'copy' | 'add';
  sources: string[]; dest: string; heredocs: Heredoc[];
  /** True when written as a JSON array (no whitespace splitting of names). */
  json: boolean;
  from?: FlagValue; chown?: FlagValue; chmod?: FlagValue; checksum?: FlagValue;
  link: boolean; parents: boolean; keepGitDir: boolean; unpack?: boolean; exclude: FlagValue[];
}

export interface MaintainerInstruction extends Base { kind: 'maintainer'; name: string }
export interface ExposeInstruction extends Base { kind: 'expose'; ports: string[] }
export interface VolumeInstruction extends Base { kind: 'volume'; paths: string[] }
export interface UserInstruction extends Base { kind: 'user'; user: string }
export interface WorkdirInstruction extends Base { kind: 'workdir'; path: string }
export interface StopsignalInstruction extends Base { kind: 'stopsignal'; signal: string }
export interface OnbuildInstruction extends Base { kind: 'onbuild'; trigger: Instruction; expression: string }

export interface HealthcheckOptions {
  interval?: number; timeout?: number; startPeriod?: number; startInterval?: number; retries?: number;
}
export type HealthcheckInstruction = Base & { kind: 'healthcheck' } & (
  | { test: 'none' }
  | { test: 'cmd'; command: CommandForm; options: HealthcheckOptions }
);

export type Instruction =
  | FromInstruction | RunInstruction | CmdInstruction | EntrypointInstruction | ShellInstruction
  | EnvInstruction | LabelInstruction | ArgInstruction | CopyInstruction | MaintainerInstruction
  | ExposeInstruction | VolumeInstruction | UserInstruction | WorkdirInstruction
  | StopsignalInstruction | OnbuildInstruction | HealthcheckInstruction;

export type InstructionKind = Instruction['kind'];
