// Run under whatever capabilities the test gives it (bpfready-shim caps --keep ...): the attach
// section one probe after the other, then in lanes, and the bpf/perf fds open before and after each.
import { probeAttach } from '../../../src/attach/index.ts';
import { capabilityNames, readOwnStatus } from '../../../src/kernel/procstatus.ts';
import { liveFdCount } from '../../../src/native/bpf.ts';
import { bpfFds } from '../../helpers/fds.ts';

const fds = () => [...bpfFds(), `live ${liveFdCount()}`];
const before = fds();
const sequential = await probeAttach({ sequential: true });
const afterSequential = fds();
const lanes = await probeAttach();
const afterLanes = fds();
const effective = capabilityNames(readOwnStatus('thread').caps.effective);
process.stdout.write(JSON.stringify({ effective, sequential, lanes, fds: { before, afterSequential, afterLanes } }));
