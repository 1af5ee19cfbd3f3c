// A stand-in for `bpfready-shim loads` that makes no load and says every one succeeded, with this
// process's own capabilities: well-formed answers that are wrong for most helpers, so that a test
// can see whether a probe used them (test/kernel/shim-early.test.ts, test/kernel/shim-loads.test.ts).
import { readFileSync } from 'node:fs';

const batch = readFileSync(0);
const v = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
if (v.getUint32(0, true) !== 0x314c5242) throw new Error('not a batch');
const requests = v.getUint32(12, true);
const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
const caps = BigInt(`0x${capEff}`);
const out = new DataView(new ArrayBuffer(16 + requests * 8 + 4));
out.setUint32(0, 0x31415242, true);
out.setUint32(4, requests, true);
out.setUint32(8, Number(caps & 0xffffffffn), true);
out.setUint32(12, Number(caps >> 32n), true);
out.setUint32(16 + requests * 8, 0x31455242, true);
process.stdout.write(new Uint8Array(out.buffer));
