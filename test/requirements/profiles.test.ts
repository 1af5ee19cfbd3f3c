import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ParseError } from '../../src/base/errors.ts';
import { requirementId } from '../../src/requirements/model.ts';
import { BUILTIN_PROFILES, parseProfiles } from '../../src/requirements/profiles.ts';

describe('profiles', () => {
  it('parses strings and one-key mappings from YAML', () => {
    const doc = parse(`
profiles:
  my-tracer:
    - feature:bpf-lsm
    - program-type: lsm/lsm_mac
    - map-type:ringbuf
    - helper:kprobe/bpf_ringbuf_output
    - kfunc:bpf_rcu_read_lock
    - mount:/sys/fs/bpf=bpf
    - capability:cap_bpf
    - kconfig:CONFIG_BPF_LSM=y
    - delegation: { cmds: [prog_load, map_create], progs: [lsm] }
`) as { profiles: unknown };
    const p = parseProfiles(doc.profiles, 'bpfready.yaml');
    expect(p['my-tracer']!.map(requirementId)).toEqual([
      'capability:cap_bpf',
      'delegation:cmds=map_create:prog_load,progs=lsm',
      'feature:bpf-lsm',
      'helper:kprobe/ringbuf_output',
      'kconfig:CONFIG_BPF_LSM=y',
      'kfunc:bpf_rcu_read_lock',
      'map-type:ringbuf',
      'mount:/sys/fs/bpf=bpf',
      'program-type:lsm/lsm_mac',
    ]);
  });

  it.each([
    [{ x: [] }, /profiles\.x must be a non-empty list/],
    [{ Bad_Name: ['map-type:hash'] }, /profile name "Bad_Name"/],
    [{ p: ['map-type:hashy'] }, /bpfready\.yaml: profiles\.p\[0\]: map-type:hashy: unknown map type/],
    [{ p: ['program-type:xdp/nope'] }, /unknown attach type "nope"/],
    [{ p: ['helper:xdp/not_a_helper'] }, /unknown helper "not_a_helper"/],
    [{ p: ['feature:warp-drive'] }, /unknown feature/],
    [{ p: ['kernel:5.10'] }, /unknown requirement kind "kernel"/],
    [{ p: ['mount:relative=bpf'] }, /absolute path/],
    [{ p: [{ delegation: { maps: ['nope'] } }] }, /delegation maps: unknown nope/],
    [{ p: [42] }, /a requirement is a string/],
    [['a'], /profiles must be a mapping/],
  ])('rejects %j with a clear error naming the input', (value, msg) => {
    expect(() => parseProfiles(value, 'bpfready.yaml')).toThrow(ParseError);
    expect(() => parseProfiles(value, 'bpfready.yaml')).toThrow(msg);
  });

  it('built-in profiles gate on features, never on a kernel version', () => {
    expect(Object.keys(BUILTIN_PROFILES).sort()).toEqual(['cilium', 'falco-modern-ebpf']);
    expect(BUILTIN_PROFILES['falco-modern-ebpf']!.map(requirementId)).toEqual([
      'feature:btf',
      'map-type:ringbuf',
      'program-type:tracing/trace_raw_tp',
    ]);
    expect(BUILTIN_PROFILES.cilium!.every((r) => r.kind === 'kconfig')).toBe(true);
  });
});
