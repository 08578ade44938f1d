/**
 * `claw channels pair <type> <account>`: shows how to pair an account that
 * links as a device (WhatsApp): the QR codes (or the pairing code) the node
 * running it announces, until it says the device is linked.
 */
import { wildcards } from "../bus/index.js";
import { cliConnect } from "./cli-connection.js";

/** Prints what the account announces until it is paired (0) or `timeoutMs` passes (1). */
export async function channelsPairCommand(o: { type: string; account: string; timeoutMs: number }): Promise<number> {
  const nc = await cliConnect();
  try {
    const sub = nc.subscribe(wildcards.channelEvents(o.type, o.account));
    const timer = setTimeout(() => sub.unsubscribe(), o.timeoutMs);
    process.stderr.write(`waiting for ${o.type} account ${o.account} on the node running it (a new QR code about every 20 s; Ctrl-C stops)…\n`);
    for await (const m of sub) {
      const event = m.subject.split(".").pop();
      const data = m.json<{ qr?: string; code?: string; node?: string }>();
      if (event === "qr" && data.qr) {
        const { toString } = await import("qrcode");
        process.stdout.write(
          `\nscan with WhatsApp → Settings → Linked devices → Link a device (from node ` +
            `${data.node}):\n${await toString(data.qr, { type: "terminal", small: true })}\n`,
        );
      } else if (event === "pairing-code" && data.code) {
        process.stdout.write(`\nin WhatsApp → Settings → Linked devices → Link a device → Link with phone number instead, enter: ${data.code}\n`);
      } else if (event === "open") {
        clearTimeout(timer);
        process.stdout.write(`${o.type} account ${o.account} is linked and connected\n`);
        return 0;
      }
    }
    process.stderr.write(
      `claw: ${o.type} account ${o.account} was not linked within ${Math.round(o.timeoutMs / 1000)} s (is it in CLAW_CONFIG channels, and is a node ` +
        `running? claw channels shows its state)\n`,
    );
    return 1;
  } finally {
    await nc.close();
  }
}
