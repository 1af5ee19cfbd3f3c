// Least-privilege advice, verified on this kernel through native-shim: the object loads with exactly
// the advised capability set and through a token on a bpffs with exactly the advised delegation,
// and removing any one capability or delegated item makes a load fail.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBpfObject } from '../../src/kernel/elf-bpf.ts';
import { readSysctlInt } from '../../src/kernel/sysctl.ts';
import { adviseObject, SHIM, verify } from '../../src/requirements/privilege.ts';
import { rootOnly } from '../helpers/root.ts';
import { clangAvailable, fixtures } from '../requirements/fixtures.ts';
import { skipUnless } from '../helpers/skip.ts';

// Each missing piece is named, and under CI=true fails the file instead of skipping it.
const skip =
  rootOnly('test/kernel/privilege.test.ts (capability drops, user namespaces)') ||
  skipUnless(clangAvailable(), 'test/kernel/privilege.test.ts verification', 'clang is not installed') ||
  skipUnless(existsSync(SHIM), 'test/kernel/privilege.test.ts verification', `${SHIM} is not built (make -C native-shim)`);

const unpriv = (() => {
  const r = readSysctlInt('/', 'kernel.unprivileged_bpf_disabled');
  return r.ok ? r.value : 2;
})();

describe('advice (pure)', () => {
  it.skipIf(skipUnless(clangAvailable(), 'test/kernel/privilege.test.ts advice from objects', 'clang is not installed'))(
    'derives capabilities per type and the delegate_* options, attach type 0 included',
    () => {
      const obj = (n: string) => parseBpfObject(readFileSync(fixtures().get(n)!), n);
      const sock = adviseObject(obj('socket_legacy'), 0);
      expect(sock.capabilities).toEqual([]);
      expect(adviseObject(obj('socket_legacy'), 2).capabilities).toEqual(['cap_bpf']);
      expect(sock.mountOptions).toBe(
        'delegate_cmds=btf_load:map_create:prog_load,delegate_maps=array,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress',
      );
      expect(adviseObject(obj('net_xdp'), 2).capabilities).toEqual(['cap_bpf', 'cap_net_admin']);
      expect(adviseObject(obj('trace'), 2).capabilities).toEqual(['cap_bpf', 'cap_perfmon']);
      expect(adviseObject(obj('cgroup'), 2).delegation).toEqual({
        cmds: ['btf_load', 'map_create', 'prog_load'],
        maps: ['sockhash'],
        progs: ['cgroup_skb', 'cgroup_sock_addr', 'sk_msg'],
        attachs: ['cgroup_inet4_connect', 'cgroup_inet_ingress', 'sk_msg_verdict'],
      });
    },
  );
});

describe.skipIf(skip)('advice verified on this kernel', () => {
  it.each(['socket_legacy', 'net_xdp', 'trace', 'cgroup'])(
    '%s',
    async (name) => {
      const path = fixtures().get(name)!;
      const advice = adviseObject(parseBpfObject(readFileSync(path), path), unpriv);
      const v = await verify(path, advice, { token: true });
      console.log(
        `${name}: capabilities [${advice.capabilities.join(', ')}] exact=${v.capabilities.exact.loaded} allNeeded=${v.capabilities.allNeeded}; token ${advice.mountOptions} exact=${v.token!.exact.loaded} withoutToken=${v.token!.withoutToken.loaded} allNeeded=${v.token!.allNeeded} unproven=${v.token!.unproven.join(',')}`,
      );
      expect(v.capabilities.exact).toMatchObject({ loaded: true, failures: [] });
      expect(v.capabilities.allNeeded).toBe(true);
      expect(v.token!.exact).toMatchObject({ loaded: true, failures: [] });
      expect(v.token!.withoutToken.loaded).toBe(false);
      expect(v.token!.allNeeded).toBe(true);
    },
    120_000,
  );
});
