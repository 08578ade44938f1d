/**
 * The seccomp filter of bubblewrap sandboxes (red-team finding F17), run
 * instruction by instruction: a small classic-BPF interpreter here executes
 * the bytes bwrap is given, for each architecture, against the calls it must
 * refuse and the ones skills make every day.
 */
import { describe, expect, it } from "vitest";
import { BPF, DENIED_SYSCALLS, SECCOMP_ARCHES, SECCOMP_RET, seccompFilter } from "../../src/skills/sandbox/seccomp-filter.js";

/** Runs a compiled filter (as bwrap reads it) on `struct seccomp_data` {nr, arch}; returns the action. */
function run(program: Buffer, data: { nr: number; arch: number }): number {
  expect(program.length % 8).toBe(0);
  const words: Record<number, number> = { 0: data.nr >>> 0, 4: data.arch >>> 0 };
  let acc = 0;
  for (let pc = 0, steps = 0; pc * 8 < program.length && steps < 10_000; steps++) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case BPF.LD_W_ABS:
        if (!(k in words)) throw new Error(`load from offset ${k}`);
        acc = words[k]!;
        pc++;
        break;
      case BPF.JEQ_K:
        pc += 1 + (acc === k ? jt : jf);
        break;
      case BPF.JGE_K:
        pc += 1 + (acc >= k ? jt : jf);
        break;
      case BPF.RET_K:
        return k;
      default:
        throw new Error(`unknown instruction ${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error("ran off the end of the program");
}

const EPERM = SECCOMP_RET.ERRNO | 1;
// read, write, openat, execve, clone, mmap, exit_group, futex: what any skill does
const EVERYDAY: Record<string, number[]> = { x64: [0, 1, 257, 59, 56, 9, 231, 202, 435], arm64: [63, 64, 56, 221, 220, 222, 94, 98, 435] };

describe("the seccomp filter", () => {
  for (const [arch, table] of Object.entries(SECCOMP_ARCHES)) {
    describe(arch, () => {
      const program = seccompFilter(arch)!;

      it("answers every denied syscall with EPERM", () => {
        const numbers = Object.entries(table.numbers);
        expect(numbers.length).toBeGreaterThan(40);
        for (const [name, nr] of numbers) expect(run(program, { nr: nr!, arch: table.audit }), name).toBe(EPERM);
      });

      it("allows everything else", () => {
        for (const nr of EVERYDAY[arch]!) expect(run(program, { nr, arch: table.audit }), String(nr)).toBe(SECCOMP_RET.ALLOW);
        const denied = new Set(Object.values(table.numbers));
        for (let nr = 0; nr < 460; nr++) if (!denied.has(nr)) expect(run(program, { nr, arch: table.audit })).toBe(SECCOMP_RET.ALLOW);
      });

      it("kills a call made through another architecture's ABI", () => {
        expect(run(program, { nr: 26, arch: 0x40000003 /* AUDIT_ARCH_I386: ptrace is 26 there */ })).toBe(SECCOMP_RET.KILL_PROCESS);
        expect(run(program, { nr: 0, arch: 0 })).toBe(SECCOMP_RET.KILL_PROCESS);
      });
    });
  }

  it("refuses x32 calls on x86-64 (they share its audit value, not its numbers)", () => {
    expect(run(seccompFilter("x64")!, { nr: 0x40000000 + 101, arch: SECCOMP_ARCHES.x64!.audit })).toBe(EPERM);
    expect(run(seccompFilter("x64")!, { nr: 0x40000000, arch: SECCOMP_ARCHES.x64!.audit })).toBe(EPERM);
  });

  it("knows every denied name on x86-64, and no unknown architecture", () => {
    expect(DENIED_SYSCALLS.filter((s) => SECCOMP_ARCHES.x64!.numbers[s] === undefined)).toEqual([]);
    expect(seccompFilter("riscv64")).toBeUndefined();
  });
});
