// raiseMemlockLimit (src/native/libc.ts): before 5.11 every bpf object is charged to RLIMIT_MEMLOCK,
// so the probe lifts it first, as far as the process may. Checked in a child started with a low
// soft limit under a higher hard one (prlimit, util-linux).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const script = `
import { raiseMemlockLimit } from '${root}/src/native/libc.ts';
import { readFileSync } from 'node:fs';
const soft = () => readFileSync('/proc/self/limits', 'utf8').split('\\n').find((l) => l.startsWith('Max locked memory')).split(/\\s{2,}/)[1];
console.log(JSON.stringify({ before: soft(), result: raiseMemlockLimit(), after: soft() }));
`;

describe('raiseMemlockLimit', () => {
  it('raises the soft limit to the hard limit at least (to infinity when CAP_SYS_RESOURCE allows)', () => {
    const r = spawnSync(
      'prlimit',
      ['--memlock=65536:1048576', process.execPath, '--input-type=module', '--disable-warning=ExperimentalWarning', '-e', script],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { before: string; result: number; after: string };
    expect(out.before).toBe('65536');
    expect(['1048576', 'unlimited']).toContain(out.after);
    expect(out.result === -1 ? 'unlimited' : String(out.result)).toBe(out.after);
  });
});
