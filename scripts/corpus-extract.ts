// Extract the eBPF skeleton objects embedded in executables (Debian's libbpf-tools: each tool carries
// its object as a byte array, `bpftool gen skeleton` output), one .bpf.o per distinct object:
//
//   node scripts/corpus-extract.ts OUT_DIR /usr/sbin/execsnoop /usr/sbin/runqlat ...
//   node scripts/corpus-extract.ts test/corpus/libbpf-tools $(dpkg -L libbpf-tools | grep /usr/sbin/)
//
// An object is found by its ELF64 header with e_machine EM_BPF (247) and sized by its section header
// table (e_shoff + e_shnum * e_shentsize, or the end of the last section with contents if that is
// further). Tools that are symlinks to one binary (ext4dist -> fsdist) yield one object, named after
// the binary itself. A manifest (objects.json) records each object's source, offset, size and sha256.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { argv, exit, stderr } from 'node:process';

export interface EmbeddedObject {
  offset: number;
  bytes: Uint8Array;
}

/** Every little- or big-endian ELF64 EM_BPF object inside `file`, sized from its section headers. */
export function embeddedObjects(file: Uint8Array): EmbeddedObject[] {
  const out: EmbeddedObject[] = [];
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let i = file.indexOf(0x7f); i >= 0 && i + 64 <= file.length; i = file.indexOf(0x7f, i + 1)) {
    if (file[i + 1] !== 0x45 || file[i + 2] !== 0x4c || file[i + 3] !== 0x46 || file[i + 4] !== 2) continue;
    const le = file[i + 5] === 1;
    if (!le && file[i + 5] !== 2) continue;
    if (view.getUint16(i + 18, le) !== 247) continue;
    const shoff = Number(view.getBigUint64(i + 40, le));
    const shentsize = view.getUint16(i + 58, le);
    const shnum = view.getUint16(i + 60, le);
    if (shentsize !== 64 || shnum === 0 || i + shoff + shnum * 64 > file.length) continue;
    let size = shoff + shnum * 64;
    for (let k = 0; k < shnum; k++) {
      const h = i + shoff + k * 64;
      const type = view.getUint32(h + 4, le);
      const end = Number(view.getBigUint64(h + 24, le) + view.getBigUint64(h + 32, le));
      if (type !== 8 && end > size) size = end; // SHT_NOBITS has no bytes in the file
    }
    if (i + size > file.length) continue;
    out.push({ offset: i, bytes: file.subarray(i, i + size) });
    i += size - 1;
  }
  return out;
}

function main(): void {
  const [outDir, ...inputs] = argv.slice(2);
  if (!outDir || !inputs.length) {
    stderr.write('usage: corpus-extract.ts OUT_DIR EXECUTABLE...\n');
    exit(2);
  }
  mkdirSync(outDir, { recursive: true });
  const seen = new Map<string, string>();
  const manifest: Record<string, { source: string; offset: number; size: number; sha256: string }> = {};
  for (const input of [...new Set(inputs.map((p) => realpathSync(p)))].sort()) {
    const objs = embeddedObjects(readFileSync(input));
    objs.forEach((o, n) => {
      const sha256 = createHash('sha256').update(o.bytes).digest('hex');
      const name = `${basename(input)}${n ? `.${n}` : ''}.bpf.o`;
      if (seen.has(sha256)) return;
      seen.set(sha256, name);
      writeFileSync(join(outDir, name), o.bytes);
      manifest[name] = { source: input, offset: o.offset, size: o.bytes.length, sha256 };
    });
  }
  writeFileSync(join(outDir, 'objects.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  stderr.write(`${Object.keys(manifest).length} objects in ${outDir}\n`);
}

if (import.meta.url === `file://${argv[1]}`) main();
