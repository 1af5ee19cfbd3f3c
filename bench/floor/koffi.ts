// A floor of the probe's memory: load koffi and our bpf() and libc gateway (src/native/libc.ts,
// src/native/bpf.ts), as every probe does before its first load, and exit. Nothing is probed. Its
// peak less `node -e 0`'s is what binding native code costs; the probe's peak less this one's is
// what the probe itself holds (docs/probes.md, "Memory").
await import('../../src/native/bpf.ts');
