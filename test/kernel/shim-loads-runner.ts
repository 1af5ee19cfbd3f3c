// Run under whatever capabilities the test gives it (bpfready-shim caps --keep ...): probe the tables
// once through the native shim and once in process, each with a fresh cache, and print both.
import { probeTables } from '../../src/collect/index.ts';
import { LOAD_SHIM } from '../../src/collect/shim-path.ts';

const errors: string[] = [];
const shim = await probeTables({ loadShim: LOAD_SHIM, onShimError: (e) => errors.push(e.message) });
const inProcess = await probeTables({ workers: 0 });
process.stdout.write(JSON.stringify({ shim, inProcess, errors }));
