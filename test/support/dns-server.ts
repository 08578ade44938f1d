/**
 * A DNS server on a free UDP port of 127.0.0.1, for the name lookups Claw
 * makes on someone's behalf (`CLAW_DNS_SERVERS`, or a resolver made with
 * `servers`): Node's own resolver asks it over the wire. Each name answers
 * from a list, one entry per query of that type (the last one repeats), so a
 * name can point outside first and inside the second time (DNS rebinding);
 * every answer has TTL 0, as a rebinding attacker's would. Every query is
 * recorded.
 */
import { createSocket } from "node:dgram";
import dnsPacket from "dns-packet";

/** Successive answers of one name, per record type; a name not listed is NXDOMAIN. */
export type Zone = Record<string, { A?: string[][]; AAAA?: string[][] }>;

/** A running DNS server. */
export interface DnsServer extends AsyncDisposable {
  /** `127.0.0.1:<port>`, as `CLAW_DNS_SERVERS` takes it */
  readonly address: string;
  /** every query so far, in order */
  readonly queries: Array<{ name: string; type: string }>;
  /** how many queries of `type` asked for `name` */
  asked(name: string, type?: "A" | "AAAA"): number;
}

/** Starts a DNS server answering from `zone`. */
export async function dnsServer(zone: Zone): Promise<DnsServer> {
  const socket = createSocket("udp4");
  const queries: DnsServer["queries"] = [];
  const asked = (name: string, type: string = "A") => queries.filter((q) => q.name === name && q.type === type).length;
  socket.on("message", (msg, from) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const q = query.questions?.[0];
    if (!q) return;
    const name = q.name.toLowerCase();
    queries.push({ name, type: q.type });
    const records = zone[name];
    const list = q.type === "A" || q.type === "AAAA" ? records?.[q.type] : undefined;
    const answers = list && list.length > 0 ? list[Math.min(asked(name, q.type) - 1, list.length - 1)]! : [];
    const reply = dnsPacket.encode({
      id: query.id,
      type: "response",
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (records ? 0 : 3), // rcode 3: NXDOMAIN
      questions: [q],
      answers: answers.map((data) => ({ name: q.name, type: q.type as "A" | "AAAA", class: "IN" as const, ttl: 0, data })),
    });
    socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => resolve());
  });
  return {
    address: `127.0.0.1:${socket.address().port}`,
    queries,
    asked,
    async [Symbol.asyncDispose]() {
      await new Promise<void>((r) => socket.close(() => r()));
    },
  };
}
