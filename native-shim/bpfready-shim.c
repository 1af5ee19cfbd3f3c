// bpfready-shim: what a multi-threaded Node process cannot do to itself.
//
//   bpfready-shim userns --bpffs PATH [--delegate-cmds X] [--delegate-maps X] [--delegate-progs X]
//                        [--delegate-attachs X] [--map-uid HOSTUID] [--map-gid HOSTGID] -- CMD ARGS...
//       Run CMD as root of a new user namespace, in a new mount namespace where a bpffs owned by that
//       user namespace, with the given delegation, is mounted at PATH. CMD can create a BPF token.
//
//   bpfready-shim caps (--keep CAPS | --drop CAPS) -- CMD ARGS...
//       Run CMD with exactly the kept capabilities (or all current ones but the dropped).
//
//   bpfready-shim loads [--workers N] < BATCH > ANSWERS
//       Make a batch of BPF_PROG_LOADs (the helper matrix) on every CPU and answer each with its
//       errno and verifier log, in request order (docs/native-shim.md has the wire format).
//
// unshare(CLONE_NEWUSER) fails with EINVAL in a multi-threaded process, and Node always has threads:
// that is why this is C. No dependencies beyond libc and the kernel's uapi headers.
//
// Exit status: CMD's own; 128+N if CMD was killed by signal N; 2 usage error; 125 setup failed
// (namespaces, mount, capabilities); 126 CMD could not be executed; 127 CMD not found.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/futex.h>
#include <time.h>
#include <unistd.h>

// The new mount API (5.2). Numbers are the same on every architecture we build for; constants are
// ours so that the build does not depend on which libc headers declare them.
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#define SHIM_FSOPEN_CLOEXEC 0x1
#define SHIM_FSMOUNT_CLOEXEC 0x1
#define SHIM_FSCONFIG_SET_STRING 1
#define SHIM_FSCONFIG_CMD_CREATE 6
#define SHIM_MOVE_MOUNT_F_EMPTY_PATH 0x4

#define EXIT_USAGE 2
#define EXIT_SETUP 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

static const char *const USAGE =
    "usage: bpfready-shim userns --bpffs PATH [--delegate-cmds X] [--delegate-maps X]\n"
    "                            [--delegate-progs X] [--delegate-attachs X]\n"
    "                            [--map-uid HOSTUID] [--map-gid HOSTGID] -- CMD [ARGS...]\n"
    "       bpfready-shim caps (--keep CAPS | --drop CAPS) -- CMD [ARGS...]\n"
    "       bpfready-shim loads [--workers N] < BATCH > ANSWERS\n"
    "\n"
    "userns  Run CMD as root (uid 0, all capabilities) of a new user namespace, in a new mount\n"
    "        namespace with a bpffs owned by that user namespace mounted at PATH. This process\n"
    "        (which needs CAP_SYS_ADMIN in the initial user namespace) sets the delegate_* options,\n"
    "        so CMD can create a BPF token from PATH (kernel 6.9+). X is what the bpffs mount option\n"
    "        takes: 'any', or ':'-separated names (map_create:prog_load, array:hash, ...) or a\n"
    "        number. Without any --delegate-* option the bpffs delegates nothing. uid and gid 0 in\n"
    "        the namespace map to HOSTUID/HOSTGID (default: the caller's), a single id each;\n"
    "        setgroups is denied. If PATH does not exist, a private tmpfs is mounted on its nearest\n"
    "        existing ancestor (hiding that directory's contents from CMD) and PATH created in it.\n"
    "caps    Run CMD with exactly the capabilities kept: effective, permitted, inheritable and\n"
    "        ambient sets = CAPS, bounding set = CAPS, SECBIT_NOROOT locked so a uid 0 CMD does\n"
    "        not regain capabilities on exec. CAPS: comma-separated names (cap_bpf, CAP_BPF or\n"
    "        bpf) or numbers; '' or 'none' for no capabilities. --drop keeps the current\n"
    "        permitted set minus CAPS.\n"
    "loads   Read a batch of BPF_PROG_LOAD requests on stdin, load them on N forked workers\n"
    "        (default: one per online CPU) and write each one's errno and verifier log to stdout\n"
    "        in request order (binary; docs/native-shim.md). Exit 0, or 125 with a message.\n"
    "\n"
    "exit status: CMD's; 128+N if CMD died of signal N; 2 usage; 125 setup failed;\n"
    "             126 CMD not executable; 127 CMD not found\n";

static void msg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bpfready-shim: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static _Noreturn void usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bpfready-shim: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n(bpfready-shim --help for usage)\n", stderr);
  va_end(ap);
  exit(EXIT_USAGE);
}

static _Noreturn void exec_cmd(char **cmd) {
  execvp(cmd[0], cmd);
  int e = errno;
  msg("cannot execute %s: %s", cmd[0], strerror(e));
  _exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

static int parse_id(const char *s, const char *flag) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || v >= UINT32_MAX) usage_error("%s: not a uid/gid: '%s'", flag, s);
  return (int)v;
}

// "--opt value" pairs up to "--"; each pair goes to on_opt. Returns the index of CMD in argv.
typedef void (*opt_fn)(const char *opt, const char *val, void *ctx);
static int parse_opts(int argc, char **argv, const char *sub, opt_fn on_opt, void *ctx) {
  int i;
  for (i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      if (i + 1 >= argc) break;
      return i + 1;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(USAGE, stdout);
      exit(0);
    }
    if (i + 1 >= argc) usage_error("%s: %s needs a value", sub, a);
    on_opt(a, argv[i + 1], ctx);
    i++;
  }
  usage_error("%s: no command after '--'", sub);
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int e = errno;
  close(fd);
  if (n != (ssize_t)strlen(text)) {
    errno = n < 0 ? e : EIO;
    return -1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// userns

// One message on the socketpair: a status (0 = go on), the errno of a failure, and optionally an fd.
struct step {
  int32_t status;
  int32_t err;
};

static int send_step(int sock, int status, int err, int fd) {
  struct step s = {status, err};
  struct iovec iov = {&s, sizeof s};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    memset(&ctl, 0, sizeof ctl);
    m.msg_control = ctl.buf;
    m.msg_controllen = sizeof ctl.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)sizeof s ? 0 : -1;
}

// Returns 0 and fills *s (and *fd when asked), or -1 if the peer went away.
static int recv_step(int sock, struct step *s, int *fd) {
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {s, sizeof *s};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof *s) return -1;
  if (fd) {
    *fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof(int));
  }
  return 0;
}

struct userns_opts {
  const char *bpffs;
  const char *delegate[4];
  int map_uid, map_gid;
  char **cmd;
};

static const char *const DELEGATE_OPTS[4] = {"delegate_cmds", "delegate_maps", "delegate_progs", "delegate_attachs"};

// The kernel explains fsconfig() failures in the fs context's log (read(2) on the fs fd).
static void print_fs_log(int fs_fd) {
  char buf[512];
  ssize_t n;
  while ((n = read(fs_fd, buf, sizeof buf - 1)) > 0) {
    buf[n] = '\0';
    msg("kernel: %s", buf);
  }
}

// PATH missing: mount a private tmpfs on its nearest existing ancestor and create PATH in it, so
// nothing is left behind on the host filesystem.
static int make_mount_point(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return 0;
    msg("--bpffs %s: not a directory", path);
    return -1;
  }
  if (errno != ENOENT || path[0] != '/') {
    msg("--bpffs %s: %s", path, path[0] != '/' ? "must be an absolute path" : strerror(errno));
    return -1;
  }
  char anc[PATH_MAX];
  if (strlen(path) >= sizeof anc) {
    msg("--bpffs: path too long");
    return -1;
  }
  strcpy(anc, path);
  for (;;) {
    char *slash = strrchr(anc, '/');
    if (slash == anc) {
      msg("--bpffs %s: no existing ancestor but / (refusing to hide the root filesystem)", path);
      return -1;
    }
    *slash = '\0';
    if (stat(anc, &st) == 0) break;
    if (errno != ENOENT) {
      msg("--bpffs %s: %s: %s", path, anc, strerror(errno));
      return -1;
    }
  }
  if (anc[0] == '\0' || strcmp(anc, "/") == 0) {
    msg("--bpffs %s: no existing ancestor but / (refusing to hide the root filesystem)", path);
    return -1;
  }
  if (mount("tmpfs", anc, "tmpfs", 0, "mode=0755") < 0) {
    msg("mount tmpfs on %s: %s", anc, strerror(errno));
    return -1;
  }
  msg("%s did not exist: private tmpfs mounted on %s for this command", path, anc);
  char part[PATH_MAX];
  strcpy(part, path);
  for (char *p = part + strlen(anc) + 1; ; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(part, 0755) < 0 && errno != EEXIST) {
        msg("mkdir %s: %s", part, strerror(errno));
        return -1;
      }
      if (c == '\0') break;
      *p = c;
    }
  }
  return 0;
}

static _Noreturn void userns_child(int sock, const struct userns_opts *o) {
  struct step s;
  pid_t parent = getppid();
  // Dies with the parent: the parent is what holds the delegation decision and reaps us.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
    int e = errno;
    msg("unshare(CLONE_NEWUSER|CLONE_NEWNS): %s", strerror(e));
    send_step(sock, 1, e, -1);
    _exit(EXIT_SETUP);
  }
  send_step(sock, 0, 0, -1);
  // The parent writes our uid/gid maps; it tells us when they are in place.
  if (recv_step(sock, &s, NULL) < 0 || s.status != 0) _exit(EXIT_SETUP);
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
    msg("becoming root of the user namespace: %s", strerror(errno));
    _exit(EXIT_SETUP);
  }
  // A change of credentials clears the parent-death signal (commit_creds): set it again, and leave
  // if the parent already went while it was unset.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(EXIT_SETUP);
  // Mounts below must not propagate back to the parent's namespace.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
    msg("making / private: %s", strerror(errno));
    _exit(EXIT_SETUP);
  }
  if (make_mount_point(o->bpffs) < 0) _exit(EXIT_SETUP);
  // fsopen() here, so the bpffs superblock belongs to our user namespace (fc->user_ns is the
  // opener's): that is what lets a token be created from it inside this namespace.
  int fs_fd = (int)syscall(SYS_fsopen, "bpf", SHIM_FSOPEN_CLOEXEC);
  if (fs_fd < 0) {
    msg("fsopen(\"bpf\"): %s", strerror(errno));
    _exit(EXIT_SETUP);
  }
  if (send_step(sock, 0, 0, fs_fd) < 0) _exit(EXIT_SETUP);
  if (recv_step(sock, &s, NULL) < 0 || s.status != 0) _exit(EXIT_SETUP);
  int mnt_fd = (int)syscall(SYS_fsmount, fs_fd, SHIM_FSMOUNT_CLOEXEC, 0);
  if (mnt_fd < 0) {
    msg("fsmount: %s", strerror(errno));
    _exit(EXIT_SETUP);
  }
  if (syscall(SYS_move_mount, mnt_fd, "", AT_FDCWD, o->bpffs, SHIM_MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    msg("move_mount onto %s: %s", o->bpffs, strerror(errno));
    _exit(EXIT_SETUP);
  }
  close(mnt_fd);
  close(fs_fd);
  close(sock);
  exec_cmd(o->cmd);
}

static pid_t child_pid;
static void forward_signal(int sig) {
  if (child_pid > 0) kill(child_pid, sig);
}

static int wait_child(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      msg("waitpid: %s", strerror(errno));
      return EXIT_SETUP;
    }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return EXIT_SETUP;
}

static int fail_child(int sock, pid_t pid, int err) {
  send_step(sock, 1, err, -1);
  close(sock);
  wait_child(pid);
  return EXIT_SETUP;
}

static int userns_parent(int sock, pid_t pid, const struct userns_opts *o) {
  struct step s;
  char path[64], map[64];
  if (recv_step(sock, &s, NULL) < 0 || s.status != 0) {
    close(sock);
    wait_child(pid);
    return EXIT_SETUP;
  }
  // One id each, mapped by us (CAP_SETUID/CAP_SETGID in the parent namespace): any host id may be
  // chosen, and a single-line map cannot overlap. setgroups is denied, as an unprivileged map
  // would have to, so the namespace cannot drop supplementary groups to bypass negative ACLs.
  snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
  if (write_file(path, "deny") < 0 && errno != ENOENT) {
    msg("write %s: %s", path, strerror(errno));
    return fail_child(sock, pid, errno);
  }
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  snprintf(map, sizeof map, "0 %d 1\n", o->map_uid);
  if (write_file(path, map) < 0) {
    msg("write %s (\"0 %d 1\"): %s", path, o->map_uid, strerror(errno));
    return fail_child(sock, pid, errno);
  }
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
  snprintf(map, sizeof map, "0 %d 1\n", o->map_gid);
  if (write_file(path, map) < 0) {
    msg("write %s (\"0 %d 1\"): %s", path, o->map_gid, strerror(errno));
    return fail_child(sock, pid, errno);
  }
  send_step(sock, 0, 0, -1);

  int fs_fd = -1;
  if (recv_step(sock, &s, &fs_fd) < 0 || s.status != 0 || fs_fd < 0) {
    close(sock);
    wait_child(pid);
    return EXIT_SETUP;
  }
  // Setting a non-empty delegation, and creating a bpffs superblock for a user namespace other
  // than the initial one, both need CAP_SYS_ADMIN in the initial user namespace: that is us.
  for (int i = 0; i < 4; i++) {
    if (!o->delegate[i]) continue;
    if (syscall(SYS_fsconfig, fs_fd, SHIM_FSCONFIG_SET_STRING, DELEGATE_OPTS[i], o->delegate[i], 0) < 0) {
      int e = errno;
      msg("fsconfig %s=%s: %s", DELEGATE_OPTS[i], o->delegate[i], strerror(e));
      print_fs_log(fs_fd);
      close(fs_fd);
      return fail_child(sock, pid, e);
    }
  }
  if (syscall(SYS_fsconfig, fs_fd, SHIM_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
    int e = errno;
    msg("fsconfig FSCONFIG_CMD_CREATE (bpffs): %s", strerror(e));
    print_fs_log(fs_fd);
    close(fs_fd);
    return fail_child(sock, pid, e);
  }
  close(fs_fd);
  send_step(sock, 0, 0, -1);
  close(sock);
  return wait_child(pid);
}

static void userns_opt(const char *a, const char *v, void *ctx) {
  struct userns_opts *o = ctx;
  if (strcmp(a, "--bpffs") == 0) o->bpffs = v;
  else if (strcmp(a, "--delegate-cmds") == 0) o->delegate[0] = v;
  else if (strcmp(a, "--delegate-maps") == 0) o->delegate[1] = v;
  else if (strcmp(a, "--delegate-progs") == 0) o->delegate[2] = v;
  else if (strcmp(a, "--delegate-attachs") == 0) o->delegate[3] = v;
  else if (strcmp(a, "--map-uid") == 0) o->map_uid = parse_id(v, a);
  else if (strcmp(a, "--map-gid") == 0) o->map_gid = parse_id(v, a);
  else usage_error("userns: unknown option '%s'", a);
}

static int cmd_userns(int argc, char **argv) {
  struct userns_opts o = {.map_uid = (int)getuid(), .map_gid = (int)getgid()};
  int i = parse_opts(argc, argv, "userns", userns_opt, &o);
  if (!o.bpffs) usage_error("userns: --bpffs PATH is required");
  o.cmd = argv + i;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    msg("socketpair: %s", strerror(errno));
    return EXIT_SETUP;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    msg("fork: %s", strerror(errno));
    return EXIT_SETUP;
  }
  if (pid == 0) {
    close(sv[0]);
    userns_child(sv[1], &o);
  }
  close(sv[1]);
  child_pid = pid;
  struct sigaction sa = {.sa_handler = forward_signal};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  return userns_parent(sv[0], pid, &o);
}

// ---------------------------------------------------------------------------------------------
// caps

static const char *const CAP_NAMES[] = {
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define N_CAP_NAMES ((int)(sizeof CAP_NAMES / sizeof CAP_NAMES[0]))

static int cap_last_cap(void) {
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  int last = -1;
  if (f) {
    if (fscanf(f, "%d", &last) != 1) last = -1;
    fclose(f);
  }
  return last >= 0 && last < 64 ? last : N_CAP_NAMES - 1;
}

static int cap_number(const char *name, int last) {
  const char *n = strncasecmp(name, "cap_", 4) == 0 ? name + 4 : name;
  for (int c = 0; c < N_CAP_NAMES; c++)
    if (strcasecmp(n, CAP_NAMES[c]) == 0) return c <= last ? c : -2;
  char *end;
  errno = 0;
  long v = strtol(name, &end, 10);
  if (!errno && *name && *end == '\0' && v >= 0 && v <= last) return (int)v;
  return -1;
}

static uint64_t parse_caps(const char *list, const char *flag, int last) {
  uint64_t set = 0;
  if (strcmp(list, "") == 0 || strcasecmp(list, "none") == 0) return 0;
  char *copy = strdup(list);
  if (!copy) usage_error("out of memory");
  for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int c = cap_number(tok, last);
    if (c == -2) usage_error("%s: %s is not known to this kernel (cap_last_cap = %d)", flag, tok, last);
    if (c < 0) usage_error("%s: '%s' is not a capability name or number", flag, tok);
    set |= 1ULL << c;
  }
  free(copy);
  return set;
}

static int cap_get(struct __user_cap_data_struct d[2]) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  return (int)syscall(SYS_capget, &h, d);
}

static int cap_set(uint64_t eff, uint64_t perm, uint64_t inh) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2] = {
      {(uint32_t)eff, (uint32_t)perm, (uint32_t)inh},
      {(uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32)},
  };
  return (int)syscall(SYS_capset, &h, d);
}

static void cap_list(uint64_t set, char *out, size_t size) {
  out[0] = '\0';
  for (int c = 0; c < 64; c++)
    if (set & (1ULL << c)) {
      char one[40];
      if (c < N_CAP_NAMES) snprintf(one, sizeof one, "%scap_%s", out[0] ? "," : "", CAP_NAMES[c]);
      else snprintf(one, sizeof one, "%s%d", out[0] ? "," : "", c);
      strncat(out, one, size - strlen(out) - 1);
    }
}

struct caps_opts {
  const char *keep, *drop;
};

static void caps_opt(const char *a, const char *v, void *ctx) {
  struct caps_opts *o = ctx;
  if (strcmp(a, "--keep") == 0) o->keep = v;
  else if (strcmp(a, "--drop") == 0) o->drop = v;
  else usage_error("caps: unknown option '%s'", a);
}

static int cmd_caps(int argc, char **argv) {
  struct caps_opts o = {0};
  char **cmd = argv + parse_opts(argc, argv, "caps", caps_opt, &o);
  const char *keep = o.keep, *drop = o.drop;
  if (!keep == !drop) usage_error("caps: give exactly one of --keep and --drop");
  int last = cap_last_cap();
  uint64_t all = last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1;

  struct __user_cap_data_struct cur[2];
  if (cap_get(cur) < 0) {
    msg("capget: %s", strerror(errno));
    return EXIT_SETUP;
  }
  uint64_t permitted = ((uint64_t)cur[1].permitted << 32 | cur[0].permitted) & all;
  uint64_t want = keep ? parse_caps(keep, "--keep", last) : permitted & ~parse_caps(drop, "--drop", last);
  if (want & ~permitted) {
    char missing[1024];
    cap_list(want & ~permitted, missing, sizeof missing);
    msg("cannot keep %s: not in this process's permitted set", missing);
    return EXIT_SETUP;
  }
  // Without SECBIT_NOROOT, exec of a uid-0 CMD refills permitted and effective from the bounding
  // set; locked so CMD cannot undo it. Needs CAP_SETPCAP, as does shrinking the bounding set, so
  // both come before capset() drops it.
  int bits = prctl(PR_GET_SECUREBITS);
  if (bits < 0 || prctl(PR_SET_SECUREBITS, bits | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED) < 0) {
    msg("setting SECBIT_NOROOT (needs cap_setpcap): %s", strerror(errno));
    return EXIT_SETUP;
  }
  for (int c = 0; c <= last; c++)
    if (!(want & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
      msg("dropping capability %d from the bounding set: %s", c, strerror(errno));
      return EXIT_SETUP;
    }
  // Ambient caps are what survive exec of an ordinary (no file caps, not setuid) binary; a cap can
  // only be ambient if it is permitted and inheritable.
  if (cap_set(want, want, want) < 0) {
    msg("capset: %s", strerror(errno));
    return EXIT_SETUP;
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
    msg("clearing ambient capabilities: %s", strerror(errno));
    return EXIT_SETUP;
  }
  for (int c = 0; c <= last; c++)
    if ((want & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) {
      msg("raising ambient capability %d: %s", c, strerror(errno));
      return EXIT_SETUP;
    }
  exec_cmd(cmd);
}


// ---- loads: the helper matrix's program loads, on every CPU ---------------------------------
//
// The batch (little-endian u32 words unless said otherwise; docs/native-shim.md):
//   "BRL1" nrows nprogs nreqs log_level log_size
//   nrows x { prog_type expected_attach_type prog_flags attach_btf_id kern_version license_len
//             license bytes, NUL-padded to a multiple of 4 }
//   nprogs x { insn_cnt, insn_cnt x 8 bytes of instructions }
//   nreqs x { row prog }
// The answers:
//   "BRA1" nreqs caps_lo caps_hi      (our effective capabilities: the caller checks they are its own)
//   nreqs x { errno (0: loaded) log_len, log_len bytes }   in request order; a loaded program's
//                                                          log is not sent (log_len 0)
//   "BRE1"
// Every load is retried on EAGAIN up to 5 times, as the in-process path (docs/kernel-notes.md).
// The answers are written as they are done, in request order (the caller interprets the first rows
// while the last are loading); the end mark only once every worker exited well.

#define LOADS_MAX_ROWS 4096
#define LOADS_MAX_PROGS 65536
#define LOADS_MAX_REQS (1u << 20)
#define LOADS_MAX_INSNS 4096
#define LOADS_MAX_LOG (1u << 20)
#define LOADS_ATTEMPTS 5
#define LOADS_CHUNK 16
// The workers wake the writer each time this many more requests are answered (and at the last).
#define LOADS_WAKE_EVERY 256

struct load_row {
  uint32_t prog_type, expected_attach_type, prog_flags, attach_btf_id, kern_version;
  char *license;
};
struct load_prog {
  uint32_t insn_cnt;
  uint64_t *insns;
};
// One answer slot per request, in memory shared with the workers: errno, and the log's place in
// the worker's own log arena.
struct load_answer {
  int32_t err;
  uint32_t worker;
  uint64_t log_off;
  uint32_t log_len;
  uint32_t done; // set last, with release order: the fields above are then complete
};

// Shared with the workers: the next unclaimed request, and how many are answered (the writer waits
// on it with a futex).
struct load_progress {
  uint32_t next;
  uint32_t answered;
};

// Our own copy of union bpf_attr's BPF_PROG_LOAD part up to attach_prog_fd (uapi layout).
struct prog_load_attr {
  uint32_t prog_type, insn_cnt;
  uint64_t insns, license;
  uint32_t log_level, log_size;
  uint64_t log_buf;
  uint32_t kern_version, prog_flags;
  char prog_name[16];
  uint32_t prog_ifindex, expected_attach_type;
  uint32_t prog_btf_fd, func_info_rec_size;
  uint64_t func_info;
  uint32_t func_info_cnt, line_info_rec_size;
  uint64_t line_info;
  uint32_t line_info_cnt, attach_btf_id;
  uint32_t attach_prog_fd, pad;
};

static _Noreturn void loads_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bpfready-shim loads: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(EXIT_SETUP);
}

// The batch is read as it is parsed, in large reads, up to its last request and no further: its
// counts frame it, so the loads start as soon as it is all there, whether or not the writer has
// closed its end of the pipe yet (a Node process closes it only when its event loop next runs).
static uint8_t *batch_buf;
static size_t batch_cap, batch_len, batch_pos;

static void read_all(void *buf, size_t n) {
  while (batch_len - batch_pos < n) {
    if (batch_len == batch_cap) {
      if (batch_cap >= ((size_t)64 << 20)) loads_fail("batch larger than 64 MiB");
      size_t cap = batch_cap ? batch_cap * 2 : 1 << 16;
      batch_buf = realloc(batch_buf, cap);
      if (!batch_buf) loads_fail("out of memory");
      batch_cap = cap;
    }
    ssize_t r = read(0, batch_buf + batch_len, batch_cap - batch_len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) loads_fail("reading the batch: %s", strerror(errno));
    if (r == 0) loads_fail("the batch ends early (%zu bytes missing)", n - (batch_len - batch_pos));
    batch_len += (size_t)r;
  }
  memcpy(buf, batch_buf + batch_pos, n);
  batch_pos += n;
}

static uint32_t read_u32(void) {
  uint32_t v;
  read_all(&v, 4);
  return v;
}

static void write_all(const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n) {
    ssize_t r = write(1, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) loads_fail("writing the answers: %s", strerror(errno));
    p += r;
    n -= (size_t)r;
  }
}

static void *shared(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) loads_fail("mmap %zu bytes: %s", size, strerror(errno));
  return p;
}

// On memory shared across fork(): not FUTEX_PRIVATE_FLAG.
static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *timeout) {
  return syscall(SYS_futex, addr, op, val, timeout, NULL, 0);
}

// A worker: claim chunks of requests from the shared counter until none is left; each log is
// copied into this worker's arena, and the writer woken every LOADS_WAKE_EVERY answers. Exit 0, or
// 1 if the arena is full (the parent says so).

static int loads_worker(unsigned w, const struct load_row *rows, const struct load_prog *progs,
                        const uint32_t (*reqs)[2], uint32_t nreqs, uint32_t log_level, uint32_t log_size,
                        struct load_progress *progress, struct load_answer *answers, uint8_t *arena, size_t arena_size) {
  char *log = log_size ? malloc(log_size) : NULL;
  if (log_size && !log) return 1;
  size_t used = 0;
  for (;;) {
    uint32_t first = __atomic_fetch_add(&progress->next, LOADS_CHUNK, __ATOMIC_RELAXED);
    if (first >= nreqs) break;
    uint32_t last = first + LOADS_CHUNK < nreqs ? first + LOADS_CHUNK : nreqs;
    for (uint32_t i = first; i < last; i++) {
      const struct load_row *row = &rows[reqs[i][0]];
      const struct load_prog *prog = &progs[reqs[i][1]];
      struct prog_load_attr attr;
      memset(&attr, 0, sizeof attr);
      attr.prog_type = row->prog_type;
      attr.expected_attach_type = row->expected_attach_type;
      attr.prog_flags = row->prog_flags;
      attr.attach_btf_id = row->attach_btf_id;
      attr.kern_version = row->kern_version;
      attr.license = (uintptr_t)row->license;
      attr.insn_cnt = prog->insn_cnt;
      attr.insns = (uintptr_t)prog->insns;
      if (log_size) {
        attr.log_level = log_level;
        attr.log_size = log_size;
        attr.log_buf = (uintptr_t)log;
      }
      long fd = -1;
      int err = 0;
      for (int attempt = 0; attempt < LOADS_ATTEMPTS; attempt++) {
        if (log_size) log[0] = 0;
        fd = syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, &attr, sizeof attr);
        err = fd < 0 ? errno : 0;
        if (err != EAGAIN) break;
      }
      if (fd >= 0) close((int)fd);
      // A loaded program's log (BPF_LOG_STATS' counters) is not sent: no interpretation reads it.
      size_t len = log_size && fd < 0 ? strnlen(log, log_size) : 0;
      if (used + len > arena_size) return 1;
      memcpy(arena + used, log, len);
      answers[i].err = err;
      answers[i].worker = w;
      answers[i].log_off = used;
      answers[i].log_len = (uint32_t)len;
      __atomic_store_n(&answers[i].done, 1, __ATOMIC_RELEASE);
      used += len;
    }
    uint32_t n = last - first;
    uint32_t now = __atomic_add_fetch(&progress->answered, n, __ATOMIC_RELEASE);
    if (now / LOADS_WAKE_EVERY != (now - n) / LOADS_WAKE_EVERY || now == nreqs)
      (void)futex(&progress->answered, FUTEX_WAKE, INT_MAX, NULL);
  }
  return 0;
}

// The writer's buffer: the answers done since the last write, in request order.
static uint8_t *out_buf;
static size_t out_cap, out_len;

static void out_put(const void *p, size_t n) {
  if (out_len + n > out_cap) {
    size_t cap = out_cap ? out_cap : 1 << 16;
    while (cap < out_len + n) cap *= 2;
    out_buf = realloc(out_buf, cap);
    if (!out_buf) loads_fail("out of memory");
    out_cap = cap;
  }
  memcpy(out_buf + out_len, p, n);
  out_len += n;
}

static void out_flush(void) {
  write_all(out_buf, out_len);
  out_len = 0;
}

// Reap the workers that exited (all of them if `block`); one that ended badly fails the batch (its
// chunks will never be answered). Returns how many are still running.
static long loads_reap(long workers, pid_t *pids, int block) {
  long running = 0;
  for (long w = 0; w < workers; w++) {
    if (!pids[w]) continue;
    int status;
    pid_t r = waitpid(pids[w], &status, block ? 0 : WNOHANG);
    if (r < 0 && errno == EINTR) {
      w--;
      continue;
    }
    if (r < 0) loads_fail("waitpid: %s", strerror(errno));
    if (r == 0) {
      running++;
      continue;
    }
    pids[w] = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) loads_fail("a load worker failed (log arena full, out of memory or killed)");
  }
  return running;
}

static int cmd_loads(int argc, char **argv) {
  long workers = sysconf(_SC_NPROCESSORS_ONLN);
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      char *end;
      workers = strtol(argv[++i], &end, 10);
      if (*end || workers < 1 || workers > 256) usage_error("--workers must be a number from 1 to 256, got '%s'", argv[i]);
    } else {
      usage_error("loads: unknown argument '%s'", argv[i]);
    }
  }
  if (workers < 1) workers = 1;
  // Our caller gone, nobody wants the answers: stop (the loaders likewise, below).
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (isatty(0)) usage_error("loads reads a binary batch on stdin (docs/native-shim.md)");
  if (read_u32() != 0x314c5242u /* "BRL1" */) loads_fail("the batch does not start with BRL1");
  uint32_t nrows = read_u32(), nprogs = read_u32(), nreqs = read_u32(), log_level = read_u32(), log_size = read_u32();
  if (nrows > LOADS_MAX_ROWS || nprogs > LOADS_MAX_PROGS || nreqs > LOADS_MAX_REQS || log_size > LOADS_MAX_LOG)
    loads_fail("batch too large: %u rows, %u programs, %u requests, log %u", nrows, nprogs, nreqs, log_size);
  struct load_row *rows = calloc(nrows ? nrows : 1, sizeof *rows);
  struct load_prog *progs = calloc(nprogs ? nprogs : 1, sizeof *progs);
  uint32_t (*reqs)[2] = calloc(nreqs ? nreqs : 1, sizeof *reqs);
  if (!rows || !progs || !reqs) loads_fail("out of memory");
  for (uint32_t r = 0; r < nrows; r++) {
    uint32_t f[6];
    read_all(f, sizeof f);
    if (f[5] > 256) loads_fail("row %u: license of %u bytes", r, f[5]);
    rows[r] = (struct load_row){f[0], f[1], f[2], f[3], f[4], calloc(1, (f[5] + 4) & ~3u)};
    if (!rows[r].license) loads_fail("out of memory");
    read_all(rows[r].license, (f[5] + 3) & ~3u);
  }
  for (uint32_t p = 0; p < nprogs; p++) {
    uint32_t n = read_u32();
    if (n == 0 || n > LOADS_MAX_INSNS) loads_fail("program %u: %u instructions", p, n);
    progs[p] = (struct load_prog){n, malloc((size_t)n * 8)};
    if (!progs[p].insns) loads_fail("out of memory");
    read_all(progs[p].insns, (size_t)n * 8);
  }
  read_all(reqs, (size_t)nreqs * sizeof *reqs);
  for (uint32_t i = 0; i < nreqs; i++)
    if (reqs[i][0] >= nrows || reqs[i][1] >= nprogs) loads_fail("request %u: row %u, program %u out of range", i, reqs[i][0], reqs[i][1]);

  struct load_progress *progress = shared(4096);
  struct load_answer *answers = shared((size_t)(nreqs ? nreqs : 1) * sizeof *answers);
  // Logs: each worker's own arena, reserved (not committed) for the worst case of its share.
  size_t arena_size = log_size ? (size_t)64 << 20 : 4096;
  uint8_t **arenas = calloc((size_t)workers, sizeof *arenas);
  pid_t *pids = calloc((size_t)workers, sizeof *pids);
  if (!arenas || !pids) loads_fail("out of memory");
  for (long w = 0; w < workers; w++) arenas[w] = shared(arena_size);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) != 0) loads_fail("capget: %s", strerror(errno));
  fflush(NULL);
  for (long w = 0; w < workers; w++) {
    pids[w] = fork();
    if (pids[w] < 0) loads_fail("fork: %s", strerror(errno));
    if (pids[w] == 0) {
      (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() == 1) _exit(1);
      _exit(loads_worker((unsigned)w, rows, progs, (const uint32_t(*)[2])reqs, nreqs, log_level, log_size, progress, answers,
                         arenas[w], arena_size));
    }
  }
  // A pipe large enough that this process rarely waits for the reader (the kernel may give less).
  (void)fcntl(1, F_SETPIPE_SZ, 1 << 20);
  uint32_t head[4] = {0x31415242u /* "BRA1" */, nreqs, data[0].effective, data[1].effective};
  out_put(head, sizeof head);
  out_flush();
  // Write each run of answers as it is done, in request order; a worker that died is noticed
  // within the futex wait's timeout.
  uint32_t written = 0;
  const struct timespec tick = {0, 20 * 1000 * 1000};
  while (written < nreqs) {
    uint32_t seen = __atomic_load_n(&progress->answered, __ATOMIC_ACQUIRE);
    while (written < nreqs && __atomic_load_n(&answers[written].done, __ATOMIC_ACQUIRE)) {
      const struct load_answer *a = &answers[written++];
      uint32_t f[2] = {(uint32_t)a->err, a->log_len};
      out_put(f, sizeof f);
      out_put(arenas[a->worker] + a->log_off, a->log_len);
    }
    if (out_len) out_flush();
    if (written == nreqs) break;
    if (futex(&progress->answered, FUTEX_WAIT, seen, &tick) < 0 && errno == ETIMEDOUT && loads_reap(workers, pids, 0) == 0 &&
        !__atomic_load_n(&answers[written].done, __ATOMIC_ACQUIRE))
      loads_fail("request %u was not answered", written);
  }
  (void)loads_reap(workers, pids, 1);
  uint32_t tail = 0x31455242u; /* "BRE1" */
  write_all(&tail, 4);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) usage_error("missing subcommand (userns, caps or loads)");
  const char *sub = argv[1];
  if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
    fputs(USAGE, stdout);
    return 0;
  }
  if (strcmp(sub, "userns") == 0) return cmd_userns(argc - 2, argv + 2);
  if (strcmp(sub, "caps") == 0) return cmd_caps(argc - 2, argv + 2);
  if (strcmp(sub, "loads") == 0) return cmd_loads(argc - 2, argv + 2);
  usage_error("unknown subcommand '%s' (userns, caps or loads)", sub);
}
