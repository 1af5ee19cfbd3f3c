// Where the native shim's `loads` subcommand is (docs/native-shim.md), without importing anything
// heavy: the CLI asks before it decides whether to start helper worker threads.
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** native-shim/build/bpfready-shim of this checkout (the image copies it to the same place). */
export const LOAD_SHIM = fileURLToPath(new URL('../../native-shim/build/bpfready-shim', import.meta.url));

/** The shim's path if it is there and executable by us, else undefined. */
export function loadShimPath(path = LOAD_SHIM): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}
