// The floor of the helper matrix in Node: what a process of ours cannot do faster than. It loads,
// with this thread and one worker thread sharing a counter, exactly the programs bpftool's helper
// probes load (a `call <id>; r0 = 0; exit` program per helper for the 26 program types Debian's
// bpftool 7.1 probes helpers of), through our bpf() gateway (src/native/libc.ts), and nothing else:
// no interpretation, no BTF, no other table, no output. Run by bench/probe-vs-bpftool.ts.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

// Program types bpftool probes helpers for here, with the expected_attach_type (or prog_flags) its
// libbpf sets: socket_filter..lwt_seg6local, sk_reuseport..cgroup_sockopt, sk_lookup, syscall.
const ROWS: [progType: number, attachType: number, flags: number][] = [
  [1, 0, 0],
  [2, 0, 0],
  [3, 0, 0],
  [4, 0, 0],
  [5, 0, 0],
  [6, 0, 0],
  [7, 0, 0],
  [8, 0, 0],
  [9, 2, 0] /* cgroup_inet_sock_create */,
  [10, 0, 0],
  [11, 0, 0],
  [12, 0, 0],
  [13, 0, 0],
  [14, 0, 0],
  [15, 6, 0] /* cgroup_device */,
  [16, 0, 0],
  [17, 0, 0],
  [18, 10, 0] /* cgroup_inet4_connect */,
  [19, 0, 0],
  [21, 0, 0],
  [22, 0, 0],
  [23, 18, 0] /* cgroup_sysctl */,
  [24, 0, 0],
  [25, 21, 0] /* cgroup_getsockopt */,
  [30, 36, 0] /* sk_lookup */,
  [31, 0, 1 << 4] /* syscall: BPF_F_SLEEPABLE */,
];
const HELPERS = 211;
const CHUNK = 53;
const CHUNKS_PER_ROW = Math.ceil(HELPERS / CHUNK);

async function run(next: Int32Array): Promise<number> {
  const { addressOf, closeFd, syscallBuf, SYS_bpf } = await import('../../src/native/libc.ts');
  const license = new TextEncoder().encode('GPL\0');
  const log = new Uint8Array(64 * 1024);
  const programs = Array.from({ length: HELPERS + 1 }, (_, id) => {
    const p = new Uint8Array(24);
    const v = new DataView(p.buffer);
    v.setUint8(0, 0x85); // call id
    v.setInt32(4, id, true);
    v.setUint8(8, 0xb7); // r0 = 0
    v.setUint8(16, 0x95); // exit
    return { p, addr: addressOf(p) };
  });
  // union bpf_attr for BPF_PROG_LOAD up to expected_attach_type (offset 68).
  const attr = new Uint8Array(72);
  const v = new DataView(attr.buffer);
  v.setUint32(4, 3, true);
  v.setBigUint64(16, addressOf(license), true);
  v.setUint32(24, 4, true); // BPF_LOG_STATS, as the engine asks
  v.setUint32(28, log.length, true);
  v.setBigUint64(32, addressOf(log), true);
  let loads = 0;
  const chunks = ROWS.length * CHUNKS_PER_ROW;
  for (let c = Atomics.add(next, 0, 1); c < chunks; c = Atomics.add(next, 0, 1)) {
    const [progType, attachType, flags] = ROWS[Math.floor(c / CHUNKS_PER_ROW)]!;
    v.setUint32(0, progType, true);
    v.setUint32(44, flags, true);
    v.setUint32(68, attachType, true);
    const first = 1 + (c % CHUNKS_PER_ROW) * CHUNK;
    for (let id = first; id < Math.min(HELPERS + 1, first + CHUNK); id++) {
      v.setBigUint64(8, programs[id]!.addr, true);
      log[0] = 0;
      const r = syscallBuf(SYS_bpf, 5, attr, attr.length);
      if (r.ok) closeFd(r.value);
      loads++;
    }
  }
  return loads;
}

if (isMainThread) {
  const next = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL(import.meta.url), { workerData: { next } });
  const theirs = new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const mine = await run(next);
  const total = mine + (await theirs);
  if (process.env.FLOOR_VERBOSE) process.stderr.write(`${total} loads (${mine} here, ${total - mine} in the worker)\n`);
  process.exit(total === ROWS.length * HELPERS ? 0 : 1);
} else {
  parentPort!.postMessage(await run((workerData as { next: Int32Array }).next));
}
