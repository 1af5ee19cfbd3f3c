// How fast we read the running kernel's BTF: parse (the one pass over ~150k types), the lazy
// name index, kfunc collection, with `bpftool btf dump` (C, libbpf) timed alongside for scale.
// Run: node_modules/.bin/node bench/btf-parse.ts [path]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Btf, BtfKind } from '../src/kernel/btf.ts';

const path = process.argv[2] ?? '/sys/kernel/btf/vmlinux';
const bytes = readFileSync(path);
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = (f: () => void) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};

const runs = 15;
const parse: number[] = [];
const index: number[] = [];
const kfuncs: number[] = [];
let btf: Btf | undefined;
for (let i = 0; i < runs; i++) {
  parse.push(time(() => (btf = Btf.parse(bytes, { input: path }))));
  index.push(time(() => btf!.findId(BtfKind.FUNC, 'bpf_lsm_file_mprotect')));
  kfuncs.push(time(() => btf!.declTagged('bpf_kfunc')));
}
let bpftool = NaN;
try {
  bpftool = time(() =>
    execFileSync('bpftool', ['btf', 'dump', 'file', path], { maxBuffer: 1 << 30, stdio: ['ignore', 'ignore', 'ignore'] }),
  );
} catch {}
const f = (x: number) => x.toFixed(1).padStart(7);
console.log(
  `${path}: ${(bytes.byteLength / 1e6).toFixed(1)} MB, ${btf!.typeCount} types, ${btf!.declTagged('bpf_kfunc').length} bpf_kfunc tags`,
);
console.log(`parse          first ${f(parse[0]!)} ms  median ${f(median(parse.slice(1)))} ms`);
console.log(`name index     first ${f(index[0]!)} ms  median ${f(median(index.slice(1)))} ms`);
console.log(`declTagged     first ${f(kfuncs[0]!)} ms  median ${f(median(kfuncs.slice(1)))} ms`);
console.log(`bpftool btf dump file (parse + print, for scale): ${f(bpftool)} ms`);
