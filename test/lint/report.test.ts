import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/syntax/index.ts';
import { lintDockerfile } from '../../src/lint/index.ts';
import { checkJson, formatBuildWarnings, formatCheck, sourceSnippet } from '../../src/lint/report.ts';

describe('printing as buildx and BuildKit do', () => {
  it('source snippet: two lines of context around one line, one around several', () => {
    const source = 'FROM alpine\n\nRUN exit 1\n\nCOPY . /src\n';
    expect(sourceSnippet('Dockerfile', source, 3, 3)).toBe(
      'Dockerfile:3\n--------------------\n   1 |     FROM alpine\n   2 |     \n   3 | >>> RUN exit 1\n   4 |     \n   5 |     COPY . /src\n--------------------\n');
    expect(sourceSnippet('Dockerfile', 'a\nb \\\nc\nd\ne\n', 2, 3)).toBe(
      'Dockerfile:2\n--------------------\n   1 |     a\n   2 | >>> b \\\n   3 | >>> c\n   4 |     d\n--------------------\n');
  });

  it('berth check text, JSON and the end of a build', async () => {
    const source = 'FROM alpine\nCMD echo\nFROM a as b\n';
    const { warnings } = await lintDockerfile(parseDockerfile(source, 'Dockerfile'));
    const text = formatCheck(warnings, 'Dockerfile', source);
    expect(text.split('\n').slice(0, 4)).toEqual([
      'Check complete, 2 warnings have been found!', '',
      'WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/',
      'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
    ]);
    expect(text).toContain('\nWARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n');
    expect(formatCheck([], 'Dockerfile', source)).toBe('Check complete, no warnings found.\n');
    const json = JSON.parse(checkJson(warnings, 'Dockerfile', source));
    expect(json.warnings[0]).toEqual({
      ruleName: 'JSONArgsRecommended',
      description: 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals',
      url: 'https://docs.docker.com/go/dockerfile/rule/json-args-recommended/',
      detail: 'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
      location: { ranges: [{ start: { line: 2 }, end: { line: 2 } }] },
    });
    expect(Buffer.from(json.sources[0].data, 'base64').toString()).toBe(source);
    expect(formatBuildWarnings(warnings)).toBe(
      '\n 2 warnings found (use berth check to expand):\n'
      // In the order BuildKit reports them: the parse-time rules before the stages are dispatched.
      + " - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 3)\n"
      + ' - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 2)\n');
  });
});
