/**
 * Entry point: `node dist/node.js` starts one Claw node.
 */
import { runNodeProcess } from "./cli/run-node.js";

await runNodeProcess();
