// The `bash` skill: the command runs as a child of this harness, inside the same sandbox and limits.
import { spawn } from "node:child_process";

const CAP = 64 * 1024;

export default {
  run({ command }) {
    return new Promise((resolve) => {
      const child = spawn("/bin/bash", ["-c", command], { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] });
      const out = { stdout: "", stderr: "" };
      let truncated = false;
      for (const name of ["stdout", "stderr"]) {
        child[name].setEncoding("utf8");
        child[name].on("data", (chunk) => {
          if (out[name].length >= CAP) return void (truncated = true);
          out[name] += chunk;
          if (out[name].length > CAP) {
            out[name] = out[name].slice(0, CAP);
            truncated = true;
          }
        });
      }
      child.on("error", (e) => resolve({ exitCode: null, stdout: out.stdout, stderr: `${out.stderr}${e.message}`, truncated }));
      // answer when both pipes end, or 50 ms after the exit: what it left running in the background
      // may hold its pipes open (the sandbox ends them all when this skill returns)
      let exitCode = null;
      let open = 2;
      let exited = false;
      const done = () => resolve({ exitCode, stdout: out.stdout, stderr: out.stderr, truncated });
      for (const name of ["stdout", "stderr"]) child[name].on("end", () => --open === 0 && exited && done());
      child.on("exit", (code, signal) => {
        exitCode = code ?? (signal ? 128 : null);
        exited = true;
        if (open === 0) done();
        else setTimeout(done, 50);
      });
    });
  },
};
