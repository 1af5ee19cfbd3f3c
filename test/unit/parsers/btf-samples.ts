// BTF blobs the parser tests and the BTF fuzzer both start from.
import { BtfKind } from '../../../src/kernel/btf.ts';
import type { RawType } from './btf-builder.ts';

// libbpf's probe_kern_btf blob, `[1] INT "int" size 4 signed 32`.
export const MINIMAL = Uint8Array.from([
  0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00,
  0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x01, 0x00, 0x69, 0x6e, 0x74, 0x00,
]);

export const BASE_TYPES: RawType[] = [
  { name: 'int', kind: BtfKind.INT, ref: 4, tail: [0x01000020] },
  { name: 'task_struct', kind: BtfKind.STRUCT, vlen: 1, ref: 4, tail: [{ str: 'pid' }, 1, 0] },
  {
    name: 'big',
    kind: BtfKind.ENUM64,
    vlen: 2,
    kindFlag: true,
    ref: 8,
    tail: [{ str: 'NEG' }, 0xfffffffe, 0xffffffff, { str: 'HI' }, 0, 0x80000000],
  },
  { name: 'small', kind: BtfKind.ENUM, vlen: 1, kindFlag: true, ref: 4, tail: [{ str: 'MINUS' }, -5] },
];
