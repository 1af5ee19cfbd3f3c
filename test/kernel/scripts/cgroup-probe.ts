// Prints the cgroup attach fact as JSON: run by attach-cgroup-pod.test.ts inside namespaces.
import { attachContext } from '../../../src/attach/index.ts';
import { probeCgroup } from '../../../src/attach/cgroup.ts';

process.stdout.write(JSON.stringify(probeCgroup(attachContext({}))));
