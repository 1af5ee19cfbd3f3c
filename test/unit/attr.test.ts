// The bpf_attr layouts in src/native/attr.ts against the C compiler's offsetof() over the uapi
// header installed on this machine: a drift between our table and the kernel's ABI fails here.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as attr from '../../src/native/attr.ts';

// Our field names → the C member path, where the uapi nests them in an anonymous struct of the union.
const C_PATH: Record<string, Record<string, string>> = {
  TOKEN_CREATE: { flags: 'token_create.flags', bpffs_fd: 'token_create.bpffs_fd' },
  LINK_CREATE: {
    prog_fd: 'link_create.prog_fd',
    target_fd: 'link_create.target_fd',
    attach_type: 'link_create.attach_type',
    flags: 'link_create.flags',
    target_btf_id: 'link_create.target_btf_id',
    kprobe_multi_flags: 'link_create.kprobe_multi.flags',
    kprobe_multi_cnt: 'link_create.kprobe_multi.cnt',
    kprobe_multi_syms: 'link_create.kprobe_multi.syms',
    kprobe_multi_addrs: 'link_create.kprobe_multi.addrs',
    uprobe_multi_path: 'link_create.uprobe_multi.path',
    uprobe_multi_offsets: 'link_create.uprobe_multi.offsets',
    uprobe_multi_cnt: 'link_create.uprobe_multi.cnt',
    uprobe_multi_flags: 'link_create.uprobe_multi.flags',
    uprobe_multi_pid: 'link_create.uprobe_multi.pid',
    perf_event_bpf_cookie: 'link_create.perf_event.bpf_cookie',
    netfilter_pf: 'link_create.netfilter.pf',
    netfilter_hooknum: 'link_create.netfilter.hooknum',
    netfilter_priority: 'link_create.netfilter.priority',
    netfilter_flags: 'link_create.netfilter.flags',
  },
  RAW_TRACEPOINT_OPEN: { name: 'raw_tracepoint.name', prog_fd: 'raw_tracepoint.prog_fd' },
  PROG_QUERY: { target_fd: 'query.target_fd', attach_type: 'query.attach_type', query_flags: 'query.query_flags' },
  OBJ_GET_INFO_BY_FD: { bpf_fd: 'info.bpf_fd', info_len: 'info.info_len', info: 'info.info' },
  PROG_BIND_MAP: { prog_fd: 'prog_bind_map.prog_fd', map_fd: 'prog_bind_map.map_fd', flags: 'prog_bind_map.flags' },
  PROG_TEST_RUN: {
    prog_fd: 'test.prog_fd',
    retval: 'test.retval',
    data_size_in: 'test.data_size_in',
    data_size_out: 'test.data_size_out',
    data_in: 'test.data_in',
    data_out: 'test.data_out',
    repeat: 'test.repeat',
  },
  ITER_CREATE: { link_fd: 'iter_create.link_fd', flags: 'iter_create.flags' },
  GET_NEXT_ID: { start_id: 'start_id', next_id: 'next_id', open_flags: 'open_flags' },
  PROG_ATTACH: { target_fd: 'target_fd', attach_bpf_fd: 'attach_bpf_fd', attach_type: 'attach_type', attach_flags: 'attach_flags' },
};

const LAYOUTS = [
  'MAP_CREATE',
  'PROG_LOAD',
  'BTF_LOAD',
  'TOKEN_CREATE',
  'LINK_CREATE',
  'RAW_TRACEPOINT_OPEN',
  'PROG_ATTACH',
  'PROG_QUERY',
  'OBJ_GET_INFO_BY_FD',
  'PROG_BIND_MAP',
  'PROG_TEST_RUN',
  'ITER_CREATE',
  'GET_NEXT_ID',
] as const;

describe('bpf_attr layouts', () => {
  const header = '/usr/include/linux/bpf.h';
  it('match offsetof() in the installed uapi header', () => {
    expect(existsSync(header), `${header} (Debian linux-libc-dev) is needed for this check`).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'bpfready-attr-'));
    const checks: { layout: string; field: string; ours: number; path: string }[] = [];
    for (const name of LAYOUTS) {
      const layout = attr[name] as attr.Layout;
      for (const [field, [off]] of Object.entries(layout)) {
        checks.push({ layout: name, field, ours: off, path: C_PATH[name]?.[field] ?? field });
      }
    }
    // One program for all fields; a member this (older) header lacks is dropped and reported, and
    // the program compiled again.
    const results = new Map<string, number | null>();
    let pending = [...new Set(checks.map((c) => c.path))];
    for (let round = 0; round < 10 && pending.length; round++) {
      const body = pending.map((p) => `printf("%s %zu\\n", "${p}", offsetof(union bpf_attr, ${p}));`).join('\n');
      writeFileSync(
        join(dir, 'o.c'),
        `#include <stddef.h>\n#include <stdio.h>\n#include <linux/bpf.h>\nint main(void){\n${body}\nreturn 0;}\n`,
      );
      try {
        execFileSync('cc', ['-o', join(dir, 'o'), join(dir, 'o.c')], { stdio: 'pipe', env: { ...process.env, LC_ALL: 'C' } });
      } catch (err) {
        const stderr = String((err as { stderr?: Buffer }).stderr ?? '');
        const absent = [...stderr.matchAll(/has no member named '(\w+)'/g)].map((m) => m[1]!);
        expect(absent.length, `cc failed for another reason:\n${stderr}`).toBeGreaterThan(0);
        for (const p of pending) if (absent.some((a) => p.split('.').includes(a))) results.set(p, null);
        pending = pending.filter((p) => !results.has(p));
        continue;
      }
      for (const line of execFileSync(join(dir, 'o')).toString().trim().split('\n')) {
        const [p, off] = line.split(' ');
        results.set(p!, Number(off));
      }
      pending = [];
    }
    const missing = checks.filter((c) => results.get(c.path) === null).map((c) => `${c.layout}.${c.field}`);
    if (missing.length) console.warn(`attr fields newer than ${header}, not checked against the compiler: ${missing.join(', ')}`);
    const compared = checks.filter((c) => results.get(c.path) !== null);
    expect(compared.length).toBeGreaterThan(60);
    for (const c of compared)
      expect({ field: `${c.layout}.${c.field}`, offset: c.ours }).toEqual({ field: `${c.layout}.${c.field}`, offset: results.get(c.path) });
  });

  it('sizes the attr to the end of the last field set', () => {
    expect(attr.encodeAttr(attr.MAP_CREATE, { map_type: 2, key_size: 4, value_size: 4, max_entries: 1 }).size).toBe(16);
    expect(attr.encodeAttr(attr.MAP_CREATE, { map_type: 2, map_token_fd: 3 }).size).toBe(80);
    expect(attr.encodeAttr(attr.PROG_LOAD, { prog_type: 1, prog_token_fd: 5 }).size).toBe(148);
    const { buf } = attr.encodeAttr(attr.PROG_LOAD, { prog_type: 6, insns: 0x1122334455667788n, prog_name: 'abc', prog_token_fd: -1 });
    const v = new DataView(buf.buffer);
    expect(v.getUint32(0, true)).toBe(6);
    expect(v.getBigUint64(8, true)).toBe(0x1122334455667788n);
    expect(new TextDecoder().decode(buf.subarray(48, 51))).toBe('abc');
    expect(buf[51]).toBe(0);
    expect(v.getInt32(144, true)).toBe(-1);
  });

  it('rejects unknown fields and over-long names with a clear error', () => {
    expect(() => attr.encodeAttr(attr.MAP_CREATE, { nope: 1 } as never)).toThrow(/no field nope/);
    expect(() => attr.encodeAttr(attr.PROG_LOAD, { prog_name: 'x'.repeat(16) })).toThrow(/longer than 15/);
  });
});
