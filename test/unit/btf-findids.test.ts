// findIds() (one pass, no name index) must answer exactly as findId() (name index) does.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BtfKind, loadBtfFile } from '../../src/kernel/btf.ts';
import { btfQueries } from '../../src/probes/engine.ts';

const VMLINUX = '/sys/kernel/btf/vmlinux';
if (!existsSync(VMLINUX)) console.warn('SKIP Btf.findIds on vmlinux: this kernel exposes no /sys/kernel/btf/vmlinux');

describe('Btf.findIds', () => {
  it.runIf(existsSync(VMLINUX))('agrees with findId on the engine queries and on absent names, on vmlinux BTF', () => {
    const queries: [number, string][] = [
      ...btfQueries(),
      [BtfKind.FUNC, 'no_such_function_anywhere'],
      [BtfKind.STRUCT, 'bpf_fentry_test1'], // a FUNC name asked as a STRUCT
      [BtfKind.FUNC, 'bpf_fentry_test'], // a prefix of a real name
      // Names shorter than the eight bytes the scan hashes, and one that is a prefix of many.
      [BtfKind.INT, 'int'],
      [BtfKind.STRUCT, 'file'],
      [BtfKind.STRUCT, 'sock'],
      [BtfKind.STRUCT, 'so'],
      [BtfKind.FUNC, 'bpf_'],
      [BtfKind.FUNC, ''],
    ];
    // The scan first, on a Btf whose name index is not built yet; findId then builds it.
    const btf = loadBtfFile(VMLINUX);
    const viaScan = btf.findIds(queries);
    const viaIndex = queries.map(([k, n]) => btf.findId(k, n));
    expect(viaScan).toEqual(viaIndex);
    expect(viaScan.filter((x) => x !== undefined).length).toBeGreaterThan(10);
    expect(viaScan.at(-1)).toBeUndefined();
    // Short names are found too (int, file and sock are in every vmlinux).
    expect(viaScan.slice(-6, -3).every((x) => x !== undefined)).toBe(true);
  });
});
