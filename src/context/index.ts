/** The build context: .dockerignore handling and filepath.Match wildcards. */
export { BadPatternError, compileGlob, globMatch, hasGlobMeta, type Glob } from './glob.ts';
export {
  compileIgnore,
  compileIgnorePattern,
  findIgnoreFile,
  IgnorePatternError,
  readIgnoreFile,
  type IgnoreMatcher,
  type IgnorePattern,
  type MatchType,
} from './dockerignore.ts';
