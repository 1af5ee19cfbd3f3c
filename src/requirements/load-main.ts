// Child entry for privilege verification: `node load-main.ts FILE.o [--token BPFFS]` loads the
// object with bpfready's loader in whatever capability set / user namespace the shim gave it and
// prints the LoadOutcome as JSON. A separate process because capabilities and namespaces belong to
// the whole process, and Node's own threads make changing them in place unsafe.
import { readFileSync } from 'node:fs';
import { argv, stdout, stderr } from 'node:process';
import { parseBpfObject } from '../kernel/elf-bpf.ts';
import { O_DIRECTORY, O_RDONLY, openPath, errnoName, closeFd } from '../native/libc.ts';
import { tokenCreate } from '../native/bpf.ts';
import { loadObject } from './load.ts';

const [file, flag, bpffs] = argv.slice(2);
if (!file || (flag !== undefined && (flag !== '--token' || !bpffs))) {
  stderr.write('usage: load-main.ts FILE.o [--token BPFFS]\n');
  process.exit(2);
}
const obj = parseBpfObject(readFileSync(file), file);
let tokenFd: number | undefined;
if (bpffs) {
  const dir = openPath(bpffs, O_RDONLY | O_DIRECTORY);
  if (!dir.ok) {
    stderr.write(`open ${bpffs}: ${errnoName(dir.errno)}\n`);
    process.exit(1);
  }
  const tok = tokenCreate(dir.value);
  closeFd(dir.value);
  if (!tok.ok) {
    stderr.write(`BPF_TOKEN_CREATE on ${bpffs}: ${errnoName(tok.errno)}\n`);
    process.exit(1);
  }
  tokenFd = tok.fd.fd;
}
stdout.write(`${JSON.stringify(loadObject(obj, tokenFd === undefined ? {} : { tokenFd }))}\n`);
