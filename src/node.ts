/**
 * Entry point: `node dist/node.js` starts one Claw node.
 *
 * While the node starts, V8's young generation is kept at its initial size:
 * loading the modules and provisioning allocate in bursts that otherwise grow
 * it to 2 × 16 MB, which an idle node keeps until V8's memory reducer runs a
 * minute or so later (an idle node's RSS was 126–130 MB 10 s after ready, 93–102 MB with
 * this). Once the node serves, the growth factor is V8's default again, so
 * load grows it as before.
 */
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--semi-space-growth-factor=1");
// imported only now: the flag is in effect while the modules load
const { runNodeProcess } = await import("./cli/run-node.js");
await runNodeProcess();
// V8's default (v8/src/flags/flag-definitions.h: semi_space_growth_factor = 2)
setFlagsFromString("--semi-space-growth-factor=2");
