// Run under whatever capabilities the test gives it (bpfready-shim caps --keep ...): send the early
// helper batch (src/collect/shim-early.ts) as `bpfready probe` does, probe the tables through the
// native shim, then once more in process, each with a fresh cache; print both, and which of the early
// batch's rows the probe took.
import { probeTables } from '../../src/collect/index.ts';
import { LOAD_SHIM } from '../../src/collect/shim-path.ts';
import { speculateHelperLoads } from '../../src/collect/shim-early.ts';

const errors: string[] = [];
const early = speculateHelperLoads(LOAD_SHIM);
const shim = await probeTables({ loadShim: LOAD_SHIM, onShimError: (e) => errors.push(e.message) });
const inProcess = await probeTables({ workers: 0 });
process.stdout.write(JSON.stringify({ shim, inProcess, errors, used: early.used.size, rows: early.batch.rows.length }));
