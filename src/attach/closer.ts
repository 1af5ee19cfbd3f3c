// Where an attach probe's link and perf event fds go when it is done with them. Closing one is the
// detach, and the kernel's detach waits for RCU grace periods: ~15–95 ms per fd for uprobes and
// tracepoints on 6.18 (docs/probes.md#attach-section). A probe run alone closes at once (closeNow);
// the section's lanes hand the fds to a DeferredCloses, which closes them on libuv's pool threads
// while the other lanes go on, and is drained before the lane's next probe and before the section
// returns. Program fds are closed by the probes themselves: while a link holds the program, closing
// its fd only drops a reference.
import type { OwnedFd } from '../native/bpf.ts';

export interface FdCloser {
  /** Close `fd`, now or later: in any case before the attach section returns. */
  close(fd: OwnedFd): void;
}

export const closeNow: FdCloser = { close: (fd) => fd.close() };

export class DeferredCloses implements FdCloser {
  #pending: Promise<void>[] = [];
  close(fd: OwnedFd): void {
    this.#pending.push(fd.closeLater());
  }
  /** Resolves when every fd handed over so far is closed. */
  async drain(): Promise<void> {
    while (this.#pending.length) await Promise.all(this.#pending.splice(0));
  }
}

/** `using perf = held(pe.fd, closer)`: an fd handed to the closer when the scope ends. */
export function held(fd: OwnedFd, closer: FdCloser): { readonly fd: number } & Disposable {
  return {
    fd: fd.fd,
    [Symbol.dispose]: () => closer.close(fd),
  };
}
