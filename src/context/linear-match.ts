/**
 * Matching without backtracking for the JavaScript regexps goregexp.ts emits from .dockerignore
 * patterns. Go's regexp (what Docker uses) runs in time linear in the input; V8's backtracking
 * engine took a minute on `a*a*a*a*a*a*a*a*a*a*a*a*b` against one 40-letter file name, and a
 * build tests every path of the context. Here the regexp becomes a Thompson NFA and every state
 * is advanced at once over the code points of the path (a Pike VM without captures): time is the
 * path's length times the pattern's.
 *
 * Only the dialect goregexp emits is read: literals (alphanumerics, `\u{...}`), classes (`[...]`
 * whose members are `\u{...}`, ranges, `\p{...}`, `\n`), `\p{...}`/`\P{...}`, groups `(` and
 * `(?:`, `|`, the quantifiers `*`, `+`, `?`, and the assertions `^`, `$`, `\b`, `\B`.
 */

type Node =
  | { kind: 'char'; test: (cp: number) => boolean }
  | { kind: 'assert'; what: '^' | '$' | 'b' | 'B' }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; options: Node[] }
  | { kind: 'repeat'; min: 0 | 1; max: 1 | typeof Infinity; item: Node };

type Inst =
  | { op: 'char'; test: (cp: number) => boolean }
  | { op: 'split'; x: number; y: number }
  | { op: 'jmp'; x: number }
  | { op: 'assert'; what: '^' | '$' | 'b' | 'B' }
  | { op: 'match' };

/** A one-character regexp (a class or a property escape), with its answers remembered. */
function classTest(source: string): (cp: number) => boolean {
  const re = new RegExp(`^${source}$`, 'u');
  const seen = new Map<number, boolean>();
  return (cp) => {
    let hit = seen.get(cp);
    if (hit === undefined) {
      hit = re.test(String.fromCodePoint(cp));
      if (seen.size < 4096) seen.set(cp, hit);
    }
    return hit;
  };
}

class Parser {
  readonly s: string;
  i = 0;

  constructor(source: string) {
    this.s = source;
  }

  fail(): never {
    throw new SyntaxError(`linear-match: unexpected regexp ${JSON.stringify(this.s)} at ${this.i}`);
  }

  alternation(): Node {
    const options = [this.sequence()];
    while (this.s[this.i] === '|') {
      this.i++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0] : { kind: 'alt', options };
  }

  sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') {
      let item = this.atom();
      const q = this.s[this.i];
      if (q === '*' || q === '+' || q === '?') {
        this.i++;
        item = { kind: 'repeat', min: q === '+' ? 1 : 0, max: q === '?' ? 1 : Infinity, item };
      }
      items.push(item);
    }
    return { kind: 'seq', items };
  }

  /** From `\` at `i`: the end of `\u{...}`, `\p{...}` or a two-character escape. */
  escapeEnd(at: number): number {
    const e = this.s[at + 1];
    if ((e === 'u' || e === 'p' || e === 'P') && this.s[at + 2] === '{') {
      const close = this.s.indexOf('}', at + 3);
      if (close < 0) this.fail();
      return close + 1;
    }
    if (e === undefined) this.fail();
    return at + 2;
  }

  atom(): Node {
    const c = this.s[this.i];
    if (c === '(') {
      this.i += this.s.startsWith('(?:', this.i) ? 3 : 1;
      const inner = this.alternation();
      if (this.s[this.i] !== ')') this.fail();
      this.i++;
      return inner;
    }
    if (c === '^' || c === '$') {
      this.i++;
      return { kind: 'assert', what: c };
    }
    if (c === '[') {
      let j = this.i + 1;
      while (j < this.s.length && this.s[j] !== ']') j = this.s[j] === '\\' ? this.escapeEnd(j) : j + 1;
      if (j >= this.s.length) this.fail();
      const source = this.s.slice(this.i, j + 1);
      this.i = j + 1;
      return { kind: 'char', test: classTest(source) };
    }
    if (c === '\\') {
      const e = this.s[this.i + 1];
      if (e === 'b' || e === 'B') {
        this.i += 2;
        return { kind: 'assert', what: e };
      }
      const end = this.escapeEnd(this.i);
      const source = this.s.slice(this.i, end);
      this.i = end;
      if (e === 'u') {
        const cp = Number.parseInt(source.slice(3, -1), 16);
        return { kind: 'char', test: (x) => x === cp };
      }
      return { kind: 'char', test: classTest(source) };
    }
    if (c === undefined || c === '*' || c === '+' || c === '?' || c === ')') this.fail();
    const cp = this.s.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return { kind: 'char', test: (x) => x === cp };
  }
}

function emit(node: Node, prog: Inst[]): void {
  switch (node.kind) {
    case 'char':
      prog.push({ op: 'char', test: node.test });
      return;
    case 'assert':
      prog.push({ op: 'assert', what: node.what });
      return;
    case 'seq':
      for (const item of node.items) emit(item, prog);
      return;
    case 'alt': {
      const jumps: { op: 'jmp'; x: number }[] = [];
      for (let k = 0; k < node.options.length - 1; k++) {
        const split: Inst = { op: 'split', x: prog.length + 1, y: 0 };
        prog.push(split);
        emit(node.options[k], prog);
        const jmp = { op: 'jmp' as const, x: 0 };
        prog.push(jmp);
        jumps.push(jmp);
        split.y = prog.length;
      }
      emit(node.options[node.options.length - 1], prog);
      for (const jmp of jumps) jmp.x = prog.length;
      return;
    }
    case 'repeat': {
      if (node.min === 1) emit(node.item, prog);
      const loop = prog.length;
      const split: Inst = { op: 'split', x: loop + 1, y: 0 };
      prog.push(split);
      emit(node.item, prog);
      if (node.max === Infinity) prog.push({ op: 'jmp', x: loop });
      split.y = prog.length;
      return;
    }
  }
}

const isWord = (cp: number | undefined): boolean =>
  cp !== undefined && ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f);

/** A compiled regexp with RegExp's `test` (a match anywhere; anchors are in the pattern). */
export interface LinearMatcher {
  test(input: string): boolean;
}

function unbounded(node: Node): number {
  switch (node.kind) {
    case 'seq': return node.items.reduce((n, item) => n + unbounded(item), 0);
    case 'alt': return node.options.reduce((n, option) => n + unbounded(option), 0);
    case 'repeat': return (node.max === Infinity ? 1 : 0) + unbounded(node.item);
    default: return 0;
  }
}

/**
 * With this many `*` and `+` or fewer (`*.log`, or that under a leading double star), V8's own
 * engine is used: without nested repetition its backtracking costs at most the input's length to
 * that power, a few million steps for the longest path, and it is a hundred times faster than the
 * NFA on ordinary patterns. Beyond, the cost grows with each star: the NFA takes over.
 */
const NATIVE_MAX_UNBOUNDED = 2;

/** Compiles a regexp of goregexp's dialect; SyntaxError for anything else. */
export function linearMatcher(source: string, nativeUpTo = NATIVE_MAX_UNBOUNDED): LinearMatcher {
  const parser = new Parser(source);
  const root = parser.alternation();
  if (parser.i !== source.length) parser.fail();
  if (unbounded(root) <= nativeUpTo) return new RegExp(source, 'u');
  const prog: Inst[] = [];
  emit(root, prog);
  prog.push({ op: 'match' });
  return { test: (input) => run(prog, [...input].map((ch) => ch.codePointAt(0)!)) };
}

function run(prog: Inst[], cps: number[]): boolean {
  const mark = new Int32Array(prog.length).fill(-1);
  let current: number[] = [];
  let following: number[] = [];
  const stack: number[] = [];
  let matched = false;
  // Adds pc and everything reachable from it without reading a character, at position `pos`.
  const add = (list: number[], start: number, pos: number): void => {
    stack.push(start);
    while (stack.length > 0) {
      const pc = stack.pop()!;
      if (mark[pc] === pos) continue;
      mark[pc] = pos;
      const inst = prog[pc];
      if (inst.op === 'jmp') stack.push(inst.x);
      else if (inst.op === 'split') stack.push(inst.y, inst.x);
      else if (inst.op === 'assert') {
        const ok = inst.what === '^' ? pos === 0
          : inst.what === '$' ? pos === cps.length
          : (isWord(cps[pos - 1]) !== isWord(cps[pos])) === (inst.what === 'b');
        if (ok) stack.push(pc + 1);
      } else if (inst.op === 'match') matched = true;
      else list.push(pc);
    }
  };
  for (let pos = 0; ; pos++) {
    // RegExp.test finds a match starting anywhere: a new attempt begins at every position.
    add(current, 0, pos);
    if (matched) return true;
    if (pos === cps.length) break;
    following.length = 0;
    for (const pc of current) {
      const inst = prog[pc] as { op: 'char'; test: (cp: number) => boolean };
      if (inst.test(cps[pos])) add(following, pc + 1, pos + 1);
    }
    if (matched) return true;
    [current, following] = [following, current];
  }
  return false;
}
