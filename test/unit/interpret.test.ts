// The errno / verifier-log interpreter: every rule of the result contract, on the kernel's own
// wording (log lines recorded from 6.18 and the older wordings the facts file documents).
import { describe, expect, it } from 'vitest';
import { interpretCreate, interpretFdTrick, interpretHelper, logExcerpt } from '../../src/contract/interpret.ts';
import { isConclusive } from '../../src/contract/result.ts';

const log = (...lines: string[]) =>
  `0: R1=ctx() R10=fp0\n${lines.join('\n')}\nprocessed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n`;

describe('interpretCreate', () => {
  it('maps success to supported', () => {
    expect(interpretCreate({ ok: true }, 'x')).toEqual({ status: 'supported' });
  });
  it('maps EINVAL and E2BIG to unsupported, with the errno name', () => {
    expect(interpretCreate({ ok: false, errno: 22 }, 'map type arena')).toMatchObject({ status: 'unsupported', errno: 'EINVAL' });
    expect(interpretCreate({ ok: false, errno: 7 }, 'x')).toMatchObject({ status: 'unsupported', errno: 'E2BIG' });
  });
  it('maps ENOTSUPP (524, no libc name) and EOPNOTSUPP to unsupported', () => {
    expect(interpretCreate({ ok: false, errno: 524 }, 'x')).toMatchObject({ status: 'unsupported', errno: 'ENOTSUPP' });
    expect(interpretCreate({ ok: false, errno: 95 }, 'x')).toMatchObject({ status: 'unsupported', errno: 'EOPNOTSUPP' });
  });
  it('never reports EPERM or EACCES as supported or unsupported', () => {
    for (const errno of [1, 13]) {
      const r = interpretCreate({ ok: false, errno }, 'program type xdp');
      expect(r.status).toBe('not-permitted');
      expect(r.detail).toMatch(/availability unknown/);
      expect(isConclusive(r)).toBe(false);
    }
  });
  it('treats ENOMEM, EAGAIN and EINTR as transient errors, never cached', () => {
    for (const errno of [12, 11, 4]) {
      const r = interpretCreate({ ok: false, errno }, 'x');
      expect(r.status).toBe('error');
      expect(isConclusive(r)).toBe(false);
    }
  });
  it('reports ENOSYS as no bpf() syscall', () => {
    expect(interpretCreate({ ok: false, errno: 38 }, 'x')).toMatchObject({
      status: 'unsupported',
      detail: expect.stringMatching(/CONFIG_BPF_SYSCALL/),
    });
  });
  it('reports an unexpected errno as an error naming it', () => {
    expect(interpretCreate({ ok: false, errno: 28 }, 'x')).toMatchObject({ status: 'error', errno: 'ENOSPC' });
  });
  it('quotes the last verifier line, not the statistics trailer', () => {
    const r = interpretCreate({ ok: false, errno: 22, log: log('attach_btf_id 1 is not a function') }, 'x');
    expect(r.detail).toBe('attach_btf_id 1 is not a function');
  });
});

describe('interpretFdTrick', () => {
  it('reads the expected errno as supported and anything else by the usual rules', () => {
    expect(interpretFdTrick({ ok: false, errno: 9 }, [9], 'BPF_TOKEN_CREATE').status).toBe('supported');
    expect(interpretFdTrick({ ok: false, errno: 22 }, [9], 'BPF_TOKEN_CREATE').status).toBe('unsupported');
    expect(interpretFdTrick({ ok: false, errno: 1 }, [9], 'BPF_TOKEN_CREATE').status).toBe('not-permitted');
  });
});

describe('interpretHelper', () => {
  it('6.10+ wording: "program of this type cannot use helper" is unsupported', () => {
    const r = interpretHelper(
      {
        ok: false,
        errno: 22,
        log: log('0: (85) call bpf_xdp_adjust_head#44', 'program of this type cannot use helper bpf_xdp_adjust_head#44'),
      },
      44,
    );
    expect(r).toEqual({ status: 'unsupported', errno: 'EINVAL', detail: 'program of this type cannot use helper bpf_xdp_adjust_head#44' });
  });
  it('older wordings: "unknown func" (<= 6.9) and "invalid func" (id out of range) are unsupported', () => {
    expect(
      interpretHelper({ ok: false, errno: 22, log: log('0: (85) call bpf_xdp_adjust_head#44', 'unknown func bpf_xdp_adjust_head#44') }, 44)
        .status,
    ).toBe('unsupported');
    expect(interpretHelper({ ok: false, errno: 22, log: log('0: (85) call unknown#211', 'invalid func unknown#211') }, 211).status).toBe(
      'unsupported',
    );
    // Linux 4.9: "unknown func 44", without the '#'.
    expect(interpretHelper({ ok: false, errno: 22, log: 'unknown func 44\n' }, 44).status).toBe('unsupported');
  });
  it('reads the id after the last "#", also for helper names with digits', () => {
    const r = interpretHelper(
      {
        ok: false,
        errno: 22,
        log: log('0: (85) call bpf_l3_csum_replace#10', 'program of this type cannot use helper bpf_l3_csum_replace#10'),
      },
      10,
    );
    expect(r.status).toBe('unsupported');
    expect(
      interpretHelper(
        { ok: false, errno: 22, log: log('0: (85) call bpf_skc_to_tcp6_sock#136', 'unknown func bpf_skc_to_tcp6_sock#136') },
        136,
      ).status,
    ).toBe('unsupported');
  });
  it('argument errors after the call (EACCES) prove the prototype exists', () => {
    expect(
      interpretHelper({ ok: false, errno: 13, log: log('0: (85) call bpf_map_lookup_elem#1', 'R1 type=ctx expected=map_ptr') }, 1).status,
    ).toBe('supported');
  });
  it('other verifier errors after the call still prove the prototype exists', () => {
    expect(
      interpretHelper(
        { ok: false, errno: 22, log: log('0: (85) call bpf_copy_from_user#148', 'helper call might sleep in a non-sleepable prog') },
        148,
      ).status,
    ).toBe('supported');
  });
  it('a helper found but refused for this program (sleepable only, some attach targets only) says so in its detail', () => {
    const sleepy = interpretHelper(
      { ok: false, errno: 22, log: log('0: (85) call bpf_copy_from_user#148', 'helper call might sleep in a non-sleepable prog') },
      148,
    );
    expect(sleepy).toEqual({
      status: 'supported',
      detail: "offered to this program type, but not to the probe's program: helper call might sleep in a non-sleepable prog",
    });
    const dpath = interpretHelper(
      { ok: false, errno: 22, log: log('0: (85) call bpf_d_path#147', 'helper call is not allowed in probe') },
      147,
    );
    expect(dpath.detail).toMatch(/not to the probe's program: helper call is not allowed in probe$/);
    // A plain argument error carries no such detail.
    expect(interpretHelper({ ok: false, errno: 13, log: log('0: (85) call bpf_map_lookup_elem#1', 'R1 !read_ok') }, 1)).toEqual({
      status: 'supported',
    });
  });
  it('an absent-helper message about another helper id does not count', () => {
    const r = interpretHelper(
      { ok: false, errno: 22, log: log('0: (85) call bpf_foo#12', 'program of this type cannot use helper bpf_bar#13') },
      12,
    );
    expect(r.status).toBe('supported');
  });
  it('EPERM is not-permitted; EACCES without any log is a permission answer; EINVAL without a log is an error', () => {
    expect(interpretHelper({ ok: false, errno: 1, log: '' }, 1).status).toBe('not-permitted');
    expect(interpretHelper({ ok: false, errno: 13, log: '' }, 1).status).toBe('not-permitted');
    expect(interpretHelper({ ok: false, errno: 22, log: '' }, 1).status).toBe('error');
  });
  it('BPF_LOG_STATS logs: the message is read without the instruction trace; a stats trailer alone is no verdict', () => {
    const stats =
      'verification time 8 usec\nstack depth 0\nprocessed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n';
    expect(
      interpretHelper({ ok: false, errno: 22, log: `program of this type cannot use helper bpf_xdp_adjust_head#44\n${stats}` }, 44).status,
    ).toBe('unsupported');
    expect(interpretHelper({ ok: false, errno: 13, log: `R1 type=ctx expected=map_ptr\n${stats}` }, 1).status).toBe('supported');
    expect(interpretHelper({ ok: false, errno: 22, log: stats }, 1).status).toBe('error');
    expect(interpretHelper({ ok: false, errno: 13, log: stats }, 1).status).toBe('not-permitted');
  });
  it('success is supported', () => {
    expect(interpretHelper({ ok: true }, 5)).toEqual({ status: 'supported' });
  });
});

describe('logExcerpt', () => {
  it('returns undefined for an empty or statistics-only log and truncates long lines', () => {
    expect(logExcerpt('')).toBeUndefined();
    expect(logExcerpt('processed 2 insns (limit 1000000)\n')).toBeUndefined();
    expect(logExcerpt(`${'x'.repeat(300)}\n`, 10)).toBe(`${'x'.repeat(10)}…`);
  });
});
