// Runs inside whatever namespaces and capabilities the test put it in (usually bpfready-shim userns)
// and prints one JSON document: the bpffs section, the token section, the same tables without the
// token, TokenManager lifecycle observations and the fd count. test/kernel/token.test.ts parses it.
//
//   node test/token/ns-runner.ts [--lifecycle] [--create PATH]...
//   --create PATH: also report BPF_TOKEN_CREATE on PATH (a subdirectory, another filesystem).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMountinfoText } from '../../src/kernel/mountinfo.ts';
import { liveFdCount } from '../../src/native/bpf.ts';
import { syscallLongs } from '../../src/native/libc.ts';
import { probeTables } from '../../src/collect/index.ts';
import { createToken } from '../../src/token/create.ts';
import { discoverBpffs, probeWithToken, TokenManager, type TableRunner } from '../../src/token/manager.ts';

const families = ['programTypes', 'mapTypes'] as const;
const tables: TableRunner = (opts) => probeTables(opts);

const fdsBefore = liveFdCount();
const state = discoverBpffs(readMountinfoText());
const token = await probeWithToken(state.token, tables, families);
const withoutToken = await probeTables({ families: [...families] });
state.token?.fd.close();
const out: Record<string, unknown> = {
  bpffs: state.bpffs,
  token,
  withoutToken: { programTypes: withoutToken.programTypes, mapTypes: withoutToken.mapTypes },
  mountinfoErrors: state.errors.map((e) => e.message),
};

const created: Record<string, unknown> = {};
process.argv.forEach((arg, i) => {
  const path = process.argv[i + 1];
  if (arg !== '--create' || !path) return;
  const r = createToken(path);
  if (r.ok) r.fd.close();
  created[path] = r.result;
});
out['created'] = created;

if (process.argv.includes('--lifecycle')) {
  // A mount table or capability change must rebuild the state and close the old token; no change must not.
  using manager = new TokenManager({ tables, families });
  const first = manager.refresh();
  const again = manager.refresh();
  const probed = await manager.tokenProbe();
  const fdsWithToken = liveFdCount();
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-lifecycle-'));
  execFileSync('mount', ['-t', 'tmpfs', 'lifecycle', dir]);
  const afterMount = manager.refresh();
  const fdsAfterRebuild = liveFdCount();
  execFileSync('umount', [dir]);
  rmSync(dir, { recursive: true });
  const afterUmount = manager.refresh();
  // A real capability change: drop cap_sys_boot from our bounding set (PR_CAPBSET_DROP; we hold
  // CAP_SETPCAP in the namespace). The privilege key includes CapBnd, so the state is rebuilt.
  const SYS_prctl = process.arch === 'arm64' ? 167 : 157;
  const dropped = syscallLongs(SYS_prctl, 24 /* PR_CAPBSET_DROP */, 22 /* CAP_SYS_BOOT */);
  const afterCapDrop = dropped.ok ? manager.refresh() : `prctl: errno ${dropped.errno}`;
  const afterCapDropAgain = manager.refresh();
  const fdsAfterCapDrop = liveFdCount();
  manager.close();
  out['lifecycle'] = {
    first,
    again,
    afterMount,
    afterUmount,
    afterCapDrop,
    afterCapDropAgain,
    fdsAfterCapDrop: fdsAfterCapDrop - fdsBefore,
    generation: manager.generation,
    tokenMount: probed?.mount ?? null,
    fdsWithToken: fdsWithToken - fdsBefore,
    fdsAfterRebuild: fdsAfterRebuild - fdsBefore,
    fdsAfterClose: liveFdCount() - fdsBefore,
  };
}

out['leakedFds'] = liveFdCount() - fdsBefore;
process.stdout.write(`${JSON.stringify(out)}\n`);
