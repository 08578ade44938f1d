/**
 * The seccomp filter of bubblewrap sandboxes (`bwrap --seccomp <fd>` reads a
 * compiled classic-BPF program, an array of `struct sock_filter`): the
 * syscalls no skill needs and that widen what a sandboxed process can reach
 * of the kernel — tracing, mounting, namespaces, keyrings, BPF, module and
 * kexec loading, userfaultfd, perf, io_uring, the clock — answer EPERM.
 * Everything else is allowed: it is a deny list on top of the namespaces, the
 * dropped capabilities and uid 65534, not a profile of what skills may do.
 *
 * The program first checks the architecture the call was made with: a call
 * through another ABI (i386 `int 0x80` on x86-64) has other numbers, so it is
 * refused outright (the process is killed), as are x32 calls on x86-64. No
 * npm package builds seccomp programs without a native add-on; this one is
 * small enough to read and is tested instruction by instruction.
 *
 * Syscall numbers: Linux `arch/x86/entry/syscalls/syscall_64.tbl` and
 * `include/uapi/asm-generic/unistd.h` (arm64). seccomp: https://docs.kernel.org/userspace-api/seccomp_filter.html
 */

/** The syscalls the filter answers with EPERM. */
export const DENIED_SYSCALLS = [
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  "mount",
  "umount2",
  "pivot_root",
  "chroot",
  "open_tree",
  "move_mount",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "mount_setattr",
  "unshare",
  "setns",
  "keyctl",
  "add_key",
  "request_key",
  "bpf",
  "userfaultfd",
  "perf_event_open",
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "open_by_handle_at",
  "name_to_handle_at",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "swapon",
  "swapoff",
  "reboot",
  "acct",
  "syslog",
  "quotactl",
  "quotactl_fd",
  "lookup_dcookie",
  "vhangup",
  "settimeofday",
  "clock_settime",
  "adjtimex",
  "clock_adjtime",
  "nfsservctl",
  // x86-64 only
  "iopl",
  "ioperm",
  "uselib",
  "create_module",
  "get_kernel_syms",
  "query_module",
] as const;
export type DeniedSyscall = (typeof DENIED_SYSCALLS)[number];

/** An architecture's `AUDIT_ARCH_*` value and syscall numbers. */
interface ArchTable {
  audit: number;
  /** numbers at or above this are another ABI sharing the audit value (x32 on x86-64) */
  foreignFrom?: number;
  numbers: Partial<Record<DeniedSyscall, number>>;
}

/** The architectures the filter knows, by `process.arch`. */
export const SECCOMP_ARCHES: Record<string, ArchTable> = {
  x64: {
    audit: 0xc000003e, // AUDIT_ARCH_X86_64
    foreignFrom: 0x40000000, // __X32_SYSCALL_BIT
    numbers: {
      ptrace: 101,
      process_vm_readv: 310,
      process_vm_writev: 311,
      mount: 165,
      umount2: 166,
      pivot_root: 155,
      chroot: 161,
      open_tree: 428,
      move_mount: 429,
      fsopen: 430,
      fsconfig: 431,
      fsmount: 432,
      fspick: 433,
      mount_setattr: 442,
      unshare: 272,
      setns: 308,
      keyctl: 250,
      add_key: 248,
      request_key: 249,
      bpf: 321,
      userfaultfd: 323,
      perf_event_open: 298,
      kexec_load: 246,
      kexec_file_load: 320,
      init_module: 175,
      finit_module: 313,
      delete_module: 176,
      open_by_handle_at: 304,
      name_to_handle_at: 303,
      io_uring_setup: 425,
      io_uring_enter: 426,
      io_uring_register: 427,
      swapon: 167,
      swapoff: 168,
      reboot: 169,
      acct: 163,
      syslog: 103,
      quotactl: 179,
      quotactl_fd: 443,
      lookup_dcookie: 212,
      vhangup: 153,
      settimeofday: 164,
      clock_settime: 227,
      adjtimex: 159,
      clock_adjtime: 305,
      nfsservctl: 180,
      iopl: 172,
      ioperm: 173,
      uselib: 134,
      create_module: 174,
      get_kernel_syms: 177,
      query_module: 178,
    },
  },
  arm64: {
    audit: 0xc00000b7, // AUDIT_ARCH_AARCH64
    numbers: {
      ptrace: 117,
      process_vm_readv: 270,
      process_vm_writev: 271,
      mount: 40,
      umount2: 39,
      pivot_root: 41,
      chroot: 51,
      open_tree: 428,
      move_mount: 429,
      fsopen: 430,
      fsconfig: 431,
      fsmount: 432,
      fspick: 433,
      mount_setattr: 442,
      unshare: 97,
      setns: 268,
      keyctl: 219,
      add_key: 217,
      request_key: 218,
      bpf: 280,
      userfaultfd: 282,
      perf_event_open: 241,
      kexec_load: 104,
      kexec_file_load: 294,
      init_module: 105,
      finit_module: 273,
      delete_module: 106,
      open_by_handle_at: 265,
      name_to_handle_at: 264,
      io_uring_setup: 425,
      io_uring_enter: 426,
      io_uring_register: 427,
      swapon: 224,
      swapoff: 225,
      reboot: 142,
      acct: 89,
      syslog: 116,
      quotactl: 60,
      quotactl_fd: 443,
      lookup_dcookie: 18,
      vhangup: 58,
      settimeofday: 170,
      clock_settime: 112,
      adjtimex: 171,
      clock_adjtime: 266,
      nfsservctl: 42,
    },
  },
};

// classic BPF (linux/bpf_common.h) and seccomp (linux/seccomp.h)
export const BPF = { LD_W_ABS: 0x20, JEQ_K: 0x15, JGE_K: 0x35, RET_K: 0x06 } as const;
export const SECCOMP_RET = { KILL_PROCESS: 0x80000000, ERRNO: 0x00050000, ALLOW: 0x7fff0000 } as const;
const EPERM = 1;
/** Offsets in `struct seccomp_data`. */
const NR = 0;
const ARCH = 4;

/** One `struct sock_filter`. */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** The filter's instructions for `arch` (a `process.arch`), or undefined for an architecture it does not know. */
export function seccompProgram(arch: string = process.arch): BpfInstruction[] | undefined {
  const t = SECCOMP_ARCHES[arch];
  if (!t) return undefined;
  const numbers = DENIED_SYSCALLS.flatMap((s) => (t.numbers[s] === undefined ? [] : [t.numbers[s]!]));
  const checks: Array<[code: number, k: number]> = [
    ...(t.foreignFrom !== undefined ? [[BPF.JGE_K, t.foreignFrom] as [number, number]] : []),
    ...numbers.map((n) => [BPF.JEQ_K, n] as [number, number]),
  ];
  if (checks.length > 255) throw new Error("too many syscalls for one jump"); // jt is a byte
  const p: BpfInstruction[] = [
    { code: BPF.LD_W_ABS, jt: 0, jf: 0, k: ARCH },
    { code: BPF.JEQ_K, jt: 1, jf: 0, k: t.audit },
    { code: BPF.RET_K, jt: 0, jf: 0, k: SECCOMP_RET.KILL_PROCESS },
    { code: BPF.LD_W_ABS, jt: 0, jf: 0, k: NR },
  ];
  // each check jumps over the ones after it and the ALLOW to the EPERM at the end
  checks.forEach(([code, k], i) => p.push({ code, jt: checks.length - i, jf: 0, k }));
  p.push({ code: BPF.RET_K, jt: 0, jf: 0, k: SECCOMP_RET.ALLOW });
  p.push({ code: BPF.RET_K, jt: 0, jf: 0, k: SECCOMP_RET.ERRNO | EPERM });
  return p;
}

/** The program as bwrap reads it (little-endian `struct sock_filter`s, 8 bytes each), or undefined for an unknown architecture. */
export function seccompFilter(arch: string = process.arch): Buffer | undefined {
  const p = seccompProgram(arch);
  if (!p) return undefined;
  const b = Buffer.alloc(p.length * 8);
  p.forEach((ins, i) => {
    b.writeUInt16LE(ins.code, i * 8);
    b.writeUInt8(ins.jt, i * 8 + 2);
    b.writeUInt8(ins.jf, i * 8 + 3);
    b.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return b;
}
