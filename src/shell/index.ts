/** Word and variable expansion as Docker's BuildKit does it. */
export {
  expandWord,
  expandWords,
  expandWordWithMatches,
  MAX_EXPANSION_DEPTH,
  ShellExpansionError,
  type ShellEnv,
  type ShellOptions,
} from './lex.ts';
