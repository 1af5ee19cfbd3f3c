// A second opinion on map types for test/kernel/probe.test.ts: one BPF_MAP_CREATE made with the
// system's <linux/bpf.h> and a raw syscall, sharing nothing with src/native (no koffi, no attr
// builder of ours). Usage: map-create TYPE KEY VALUE MAX_ENTRIES FLAGS; prints the errno number
// (0: created, then closed) and exits 0, or exits 2 on bad usage.
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s TYPE KEY VALUE MAX_ENTRIES FLAGS\n", argv[0]);
    return 2;
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = (unsigned)strtoul(argv[1], NULL, 0);
  attr.key_size = (unsigned)strtoul(argv[2], NULL, 0);
  attr.value_size = (unsigned)strtoul(argv[3], NULL, 0);
  attr.max_entries = (unsigned)strtoul(argv[4], NULL, 0);
  attr.map_flags = (unsigned)strtoul(argv[5], NULL, 0);
  long fd = syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
  if (fd >= 0) {
    close((int)fd);
    printf("0\n");
  } else {
    printf("%d\n", errno);
  }
  return 0;
}
