// A double of src/daemon/kernel-view-child.ts: started as the daemon starts the real one (node, the
// entry file, the request as argv[2]), it answers with the saved Debian 6.1 report's kernel view, or
// misbehaves as KV_DOUBLE_MODE says, for the first KV_DOUBLE_FAILS runs (counted in the file
// KV_DOUBLE_COUNTER; all runs when neither is set):
//   crash     a line on stderr, exit 3          signal   killed by SIGSEGV
//   garbage   bytes that are no frame           short    a header announcing more bytes than follow
//   badset    a frame whose set is not its bytes' hash
//   hang      never answers (the caller's deadline kills it)
//   ok        the real answer
// KV_DOUBLE_ARGS, if set, is a file the double writes its pid, argv and execArgv to.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { encodeFrame } from '../../src/daemon/kernel-view.ts';
import { packKernelView } from '../../src/publish/packed-view.ts';
import { loadReports } from '../../src/requirements/reports.ts';

const env = process.env;
const argsFile = env['KV_DOUBLE_ARGS'];
if (argsFile) {
  // Whole or not at all: the test reads it as soon as it exists.
  writeFileSync(`${argsFile}.tmp`, JSON.stringify({ pid: process.pid, argv: process.argv.slice(2), execArgv: process.execArgv }));
  renameSync(`${argsFile}.tmp`, argsFile);
}
let mode = env['KV_DOUBLE_MODE'] ?? 'ok';
const counter = env['KV_DOUBLE_COUNTER'];
if (counter) {
  const run = (existsSync(counter) ? Number(readFileSync(counter, 'utf8')) : 0) + 1;
  writeFileSync(counter, String(run));
  if (run > Number(env['KV_DOUBLE_FAILS'] ?? Infinity)) mode = 'ok';
}
const write = (b: Uint8Array) => new Promise<void>((ok) => process.stdout.write(b, () => ok()));
const packed = () => packKernelView(loadReports('debian-6.1.0-57-amd64')[0]!.report.kernelView!);

switch (mode) {
  case 'crash':
    process.stderr.write('something went wrong\nbpfready kernel view: the double crashed as asked\n');
    process.exit(3);
    break;
  case 'signal':
    process.kill(process.pid, 'SIGSEGV');
    break;
  case 'garbage':
    await write(Buffer.from('\u0000\u0001 this is not a kernel view '.repeat(400)));
    break;
  case 'short': {
    const [header, body] = encodeFrame(packed());
    await write(header!);
    await write(body!.subarray(0, body!.length - 10));
    break;
  }
  case 'badset': {
    const p = packed();
    for (const b of encodeFrame({ ...p, set: '000000000000' })) await write(b);
    break;
  }
  case 'hang':
    setInterval(() => {}, 1000);
    break;
  default:
    for (const b of encodeFrame(packed())) await write(b);
}
