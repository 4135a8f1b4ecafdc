import { describe, expect, it } from 'vitest';
import { createProgress, parseProgressMode, type ProgressOutput } from '../../src/progress/index.ts';
import { makeBook } from '../../src/progress/steps.ts';
import { displayable, renderFrame } from '../../src/progress/tty.ts';

/** A fake terminal or pipe and a clock that moves only when told. */
function setup(tty = false): { out: ProgressOutput & { text: string; resize(): void }; clock: { t: number; now(): number } } {
  const listeners: Array<() => void> = [];
  const out = {
    text: '', isTTY: tty, columns: 60, rows: 10,
    write(s: string) { out.text += s; },
    on: (_e: 'resize', l: () => void) => listeners.push(l),
    off: () => {},
    resize: () => listeners.forEach((l) => l()),
  };
  const clock = { t: 1_000_000, now: () => clock.t };
  return { out, clock };
}

const strip = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

describe('plain', () => {
  it('prints BuildKit blocks with times from the step start, and reheads an interrupted block', () => {
    const { out, clock } = setup();
    const p = createProgress('plain', { to: out, now: clock.now });
    const a = p.start('[1/2] RUN a');
    clock.t += 135;
    p.log(a, 'stdout', 'hello\npart');
    const b = p.start('[b 2/2] RUN b');
    clock.t += 200;
    p.done(b);
    clock.t += 100;
    p.log(a, 'stderr', 'ial\n');
    p.done(a);
    const c = p.start('[2/2] COPY x .');
    p.cached(c);
    p.close();
    expect(out.text).toBe([
      '#1 [1/2] RUN a', '#1 0.135 hello', '#1 ...', '',
      '#2 [b 2/2] RUN b', '#2 DONE 0.2s', '',
      '#1 [1/2] RUN a', '#1 0.435 partial', '#1 DONE 0.4s', '',
      '#3 [2/2] COPY x .', '#3 CACHED', '',
    ].join('\n'));
  });

  it('repeats a failed step\'s last ten lines in a box, and lists warnings', () => {
    const { out, clock } = setup();
    const p = createProgress('plain', { to: out, now: clock.now });
    p.warning('FromAsCasing: bad casing (line 1)');
    const s = p.start('[2/2] RUN x');
    clock.t += 61;
    p.log(s, 'stdout', Array.from({ length: 14 }, (_, i) => `line ${i + 1}\n`).join(''));
    p.error(s, 'exit code: 3');
    p.close();
    p.close();
    expect(out.text).toContain('#1 ERROR: exit code: 3\n');
    expect(out.text.endsWith([
      '', ' 1 warning found:', ' - FromAsCasing: bad casing (line 1)',
      '------', ' > [2/2] RUN x:', ...Array.from({ length: 10 }, (_, i) => `0.061 line ${i + 5}`), '------', '',
    ].join('\n'))).toBe(true);
  });
});

describe('quiet', () => {
  it('prints nothing but the failed step\'s box', () => {
    const { out, clock } = setup();
    const p = createProgress('quiet', { to: out, now: clock.now });
    const ok = p.start('[1/3] RUN ok');
    p.log(ok, 'stdout', 'fine\n');
    p.done(ok);
    const bad = p.start('[2/3] RUN bad');
    p.log(bad, 'stderr', 'boom');
    p.message('pulling x');
    p.error(bad, 'exit code: 1');
    p.close();
    expect(out.text).toBe('------\n > [2/3] RUN bad:\n0.000 boom\n------\n');
  });
});

describe('rawjson', () => {
  it('streams SolveStatus objects, one a line and nothing else', () => {
    const { out, clock } = setup();
    const p = createProgress('rawjson', { to: out, now: clock.now });
    const s = p.start('[1/2] RUN echo hi');
    clock.t += 50;
    p.log(s, 'stdout', 'hi\n');
    p.log(s, 'stderr', Buffer.from('warn\n'));
    p.message('pulling busybox');
    p.warning('a warning');
    clock.t += 50;
    p.done(s);
    const c = p.start('[2/2] COPY a b');
    p.cached(c);
    const e = p.start('exporting to image');
    p.status(e, 'naming to docker.io/library/x:latest');
    p.error(e, 'disk full');
    p.close();
    const lines = out.text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, Array<Record<string, unknown>>>);
    expect(lines).toHaveLength(11);
    const digest = lines[0].vertexes[0].digest as string;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lines[0]).toEqual({ vertexes: [{ digest, name: '[1/2] RUN echo hi', started: new Date(1_000_000).toISOString() }] });
    expect(lines[1].logs[0]).toEqual({ vertex: digest, stream: 1, data: Buffer.from('hi\n').toString('base64'), timestamp: new Date(1_000_050).toISOString() });
    expect(lines[2].logs[0].stream).toBe(2);
    expect(Buffer.from(lines[3].logs[0].data as string, 'base64').toString()).toBe('pulling busybox\n');
    expect(lines[4].warnings[0]).toEqual({ vertex: digest, level: 1, short: Buffer.from('a warning').toString('base64') });
    expect(lines[5].vertexes[0]).toMatchObject({ digest, completed: new Date(1_000_100).toISOString() });
    expect(lines[7].vertexes[0]).toMatchObject({ name: '[2/2] COPY a b', cached: true });
    expect(lines[9].statuses[0]).toMatchObject({ id: 'naming to docker.io/library/x:latest', vertex: lines[8].vertexes[0].digest, current: 0 });
    expect(lines[10].vertexes[0]).toMatchObject({ name: 'exporting to image', error: 'disk full' });
  });
});

describe('tty', () => {
  it('renders a header, timers, the running steps\' last lines and collapsed finished steps', () => {
    const clock = { t: 0 };
    const book = makeBook(() => clock.t);
    const a = book.start('[internal] load build definition from Dockerfile');
    book.finish(a, {});
    const f = book.start('[1/3] FROM docker.io/library/busybox:local@sha256:90dc93303b941eae2c6befb5c4dd04965cbeaf70b72d351dd7f1747d0c963b64');
    book.finish(f, { cached: true });
    const r = book.start('[2/3] RUN for i in $(seq 8); do echo line $i; done');
    book.expect(2);
    clock.t = 1500;
    book.append(r, Array.from({ length: 8 }, (_, i) => `line ${i + 1}\n`).join(''));
    clock.t = 2340;
    const frame = renderFrame(book, { now: clock.t, columns: 61, rows: 0, colour: false, finished: false });
    expect(frame.map((l) => l.trimEnd())).toEqual([
      '[+] Building 2.3s (2/5)',
      ' => [internal] load build definition from Dockerfile    0.0s',
      ' => CACHED [1/3] FROM docker.io/library/busybox:local@  0.0s',
      ' => [2/3] RUN for i in $(seq 8); do echo line $i; done  2.3s',
      ' => => # line 3', ' => => # line 4', ' => => # line 5', ' => => # line 6', ' => => # line 7', ' => => # line 8',
    ]);
    expect(frame.every((l) => l.length === 60)).toBe(true);
    book.finish(r, {});
    const last = renderFrame(book, { now: clock.t, columns: 61, rows: 0, colour: true, finished: true });
    expect(strip(last[0]).trimEnd()).toBe('[+] Building 2.3s (3/5) FINISHED');
    expect(last).toHaveLength(4);
    expect(last[3]).toBe(`\x1b[34m${' => [2/3] RUN for i in $(seq 8); do echo line $i; done  2.3s'}\x1b[0m`);
  });

  it('keeps a live frame to the terminal, dropping finished steps first', () => {
    const book = makeBook(() => 0);
    for (let i = 1; i <= 8; i++) book.finish(book.start(`[${i}/9] RUN done${i}`), {});
    const running = book.start('[9/9] RUN still');
    book.append(running, 'a\nb\n');
    const frame = renderFrame(book, { now: 0, columns: 40, rows: 6, colour: false, finished: false }).map((l) => l.trimEnd());
    expect(frame.map((l) => l.replace(/ +/g, ' '))).toEqual(['[+] Building 0.0s (8/9)', ' => [8/9] RUN done8 0.0s', ' => [9/9] RUN still 0.0s', ' => => # a', ' => => # b']);
  });

  it('redraws in place, follows a resize, shows messages above the display, and says FINISHED', () => {
    const { out, clock } = setup(true);
    const p = createProgress('auto', { to: out, now: clock.now, colour: false, interval: 0 });
    const s = p.start('[1/1] RUN x');
    p.message('pulling busybox');
    p.log(s, 'stdout', '\x1b[31mred\x1b[0m\tbar 10%\rbar 50%');
    clock.t += 1200;
    p.done(s);
    p.close();
    expect(out.text.startsWith('\x1b[?25l')).toBe(true);
    const screen = strip(out.text);
    expect(screen).toContain('pulling busybox\n[+] Building 1.2s (1/1) FINISHED');
    expect(screen).toContain(' => [1/1] RUN x');
    expect(displayable('\x1b[31mred\x1b[0m\tbar 10%\rbar 50%')).toBe('bar 50%');
    expect(displayable('a\tb')).toBe('a    b');
  });

  it('moves up over the rows the last frame takes, wrapped if the terminal narrowed', async () => {
    const { out, clock } = setup(true);
    const p = createProgress('tty', { to: out, now: clock.now, colour: false, interval: 5 });
    p.start('[1/1] RUN sleep');
    const up = /\x1b\[(\d+)A/g;
    const moves = () => [...out.text.matchAll(up)].map((m) => m[1]);
    // The redraw timer is real: wait for its frames, however busy the machine is.
    const until = async (ready: () => boolean) => {
      for (let waited = 0; !ready() && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => moves().includes('2'));
    expect(moves()).toContain('2');
    out.columns = 30;
    out.resize();
    out.text = '';
    await until(() => moves().length > 0);
    // Two 59-column lines wrap to two rows each at 30 columns; the new frame is 29 wide.
    expect(moves()[0]).toBe('4');
    p.close();
  });
});

describe('--progress', () => {
  it('refuses an unknown mode', () => {
    expect(() => parseProgressMode('bogus')).toThrow(/invalid progress mode "bogus"/);
    expect(parseProgressMode('rawjson')).toBe('rawjson');
  });

  it('is plain in auto mode when the output is not a terminal', () => {
    const { out, clock } = setup(false);
    const p = createProgress('auto', { to: out, now: clock.now });
    p.done(p.start('x'));
    expect(out.text).toBe('#1 x\n#1 DONE 0.0s\n');
  });
});
