/**
 * `http.fetch` against real HTTP servers on loopback and a DNS server in this
 * test that Node's resolver asks over UDP (the resolver a node makes from
 * `CLAW_DNS_SERVERS`): what the allowlist admits, with ports (F13); every
 * address a name resolves to checked after unwrapping IPv6 forms of IPv4
 * (F8); the checked address is the one connected to, looked up once (DNS
 * rebinding, F8, and issue 26's untested lookup path); every redirect hop
 * checked again, credentials dropped on the way to another origin (F19);
 * and a huge body streamed and cut at 256 KB, in a real node whose memory
 * stays flat (F9).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostResolver } from "../../src/net/index.js";
import { httpFetchSkill, MAX_BODY_BYTES } from "../../src/skills/index.js";
import { dnsServer, type DnsServer } from "../support/dns-server.js";
import { startClaw } from "../support/claw-node.js";
import { natsServer } from "../support/nats-server.js";

const ctx = (ms = 10_000) => ({ signal: AbortSignal.timeout(ms), deadline: Date.now() + ms });

interface Site {
  server: Server;
  port: number;
  /** every request it took: method, path and headers */
  hits: Array<{ method: string; url: string; headers: IncomingMessage["headers"] }>;
}

/** A site on `host`: `/` says hello, `/headers` shows the request's headers, `/to?u=<url>` redirects there (302, or `&status=`). */
async function site(host: string): Promise<Site> {
  const hits: Site["hits"] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    hits.push({ method: req.method!, url: req.url!, headers: req.headers });
    const u = new URL(req.url!, "http://x");
    if (u.pathname === "/to") return res.writeHead(Number(u.searchParams.get("status") ?? 302), { location: u.searchParams.get("u")! }).end();
    if (u.pathname === "/headers") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(req.headers));
    res.writeHead(200, { "content-type": "text/plain" }).end(`hello ${req.method} from ${host}`);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as { port: number }).port, hits };
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    (r) => ({ resolved: r }) as Record<string, unknown>,
    (e: Error & { code?: string }) => ({ code: e.code, message: e.message }) as Record<string, unknown>,
  );

describe("http.fetch", () => {
  let dns: DnsServer;
  let a: Site; // 127.0.0.1
  let b: Site; // 127.0.0.2: another host
  let v6: Site; // ::1
  const resolver = () => createHostResolver({ servers: [dns.address] });

  beforeAll(async () => {
    [a, b, v6] = await Promise.all([site("127.0.0.1"), site("127.0.0.2"), site("::1")]);
    dns = await dnsServer({
      "api.inside.test": { A: [["127.0.0.1"]] },
      "internal.svc": { A: [["127.0.0.1"]] },
      // F8: every one of these is off the public internet, most of them in IPv6 clothes
      "any.evil.test": { AAAA: [["::ffff:0.0.0.0"]] },
      "mapped-loopback.evil.test": { AAAA: [["::ffff:127.0.0.1"]] },
      "mapped-private.evil.test": { AAAA: [["::ffff:172.16.0.1"]] },
      "cgnat.evil.test": { A: [["100.64.0.1"]] },
      "benchmark.evil.test": { A: [["198.18.0.1"]] },
      "nat64.evil.test": { AAAA: [["64:ff9b::7f00:1"]] },
      "nat64-private.evil.test": { AAAA: [["64:ff9b::a00:5"]] },
      "nat64-local.evil.test": { AAAA: [["64:ff9b:1::a00:5"]] },
      "sixtofour.evil.test": { AAAA: [["2002:a00:5::1"]] },
      "compatible.evil.test": { AAAA: [["::7f00:1"]] },
      "siit.evil.test": { AAAA: [["::ffff:0:7f00:1"]] },
      "teredo.evil.test": { AAAA: [["2001:0:4136:e378:8000:63bf:3fff:fdd2"]] },
      "unique-local.evil.test": { AAAA: [["fd00::1"]] },
      "site-local.evil.test": { AAAA: [["fec0::1"]] },
      "metadata.evil.test": { A: [["169.254.169.254"]] },
      "zero.evil.test": { A: [["0.0.0.0"]] },
      "mixed.evil.test": { A: [["1.1.1.1"]], AAAA: [["::1"]] },
      // DNS rebinding: outside when checked, inside the second time — and the other way round
      "www.rebind.test": { A: [["1.1.1.1"], ["127.0.0.1"]] },
      "inward.test": { A: [["127.0.0.1"], ["1.1.1.1"]] },
    });
  });
  afterAll(async () => {
    for (const s of [a, b, v6]) s?.server.close();
    await dns?.[Symbol.asyncDispose]();
  });

  it("reaches only the hosts the node allows, never a private address it did not name, nor a redirect elsewhere", async () => {
    const url = `http://127.0.0.1:${a.port}`;
    await expect(httpFetchSkill({ allow: [] }).run({ url }, ctx())).rejects.toMatchObject({
      code: "denied",
      message: expect.stringContaining("CLAW_HTTP_FETCH_ALLOW"),
    });
    // a host allowed by a wildcard whose name resolves (through DNS) to a loopback address is refused
    const before = a.hits.length;
    await expect(
      httpFetchSkill({ allow: ["*.inside.test"], resolver: resolver() }).run({ url: `http://api.inside.test:${a.port}/` }, ctx()),
    ).rejects.toMatchObject({ code: "denied", message: expect.stringContaining("127.0.0.1 (loopback)") });
    expect(a.hits.length).toBe(before);
    const ok = (await httpFetchSkill({ allow: ["127.0.0.1"] }).run({ url, method: "POST", body: "x" }, ctx())) as {
      status: number;
      body: string;
      truncated: boolean;
    };
    expect(ok).toMatchObject({ status: 200, body: "hello POST from 127.0.0.1", truncated: false });
    await expect(httpFetchSkill({ allow: ["127.0.0.1"] }).run({ url: `${url}/to?u=http://169.254.169.254/latest/meta-data` }, ctx())).rejects.toMatchObject({
      code: "denied",
      message: expect.stringContaining("169.254.169.254"),
    });
    await expect(httpFetchSkill({ allow: ["127.0.0.1"] }).run({ url: "file:///etc/passwd" }, ctx())).rejects.toMatchObject({ code: "denied" });
  });

  it("refuses a name resolving to any address off the public internet, IPv4-mapped, NAT64, 6to4, CGNAT and benchmarking ones among them (F8)", async () => {
    const fetcher = httpFetchSkill({ allow: ["*.evil.test"], resolver: resolver() });
    const names = [
      "any",
      "mapped-loopback",
      "mapped-private",
      "cgnat",
      "benchmark",
      "nat64",
      "nat64-private",
      "nat64-local",
      "sixtofour",
      "compatible",
      "siit",
      "teredo",
      "unique-local",
      "site-local",
      "metadata",
      "zero",
      "mixed",
    ];
    const before = a.hits.length;
    const outcomes = await Promise.all(
      names.map(async (n) => [n, await rejection(fetcher.run({ url: `http://${n}.evil.test:${a.port}/` }, ctx(4_000)))] as const),
    );
    for (const [n, o] of outcomes)
      expect(o, n).toMatchObject({ code: "denied", message: expect.stringContaining(`${n}.evil.test resolves to an address off the public internet`) });
    expect(a.hits.length).toBe(before);
  });

  it("connects to the address it checked, looked up once, whatever the name answers the second time (DNS rebinding)", async () => {
    // outside first, loopback next: the connection goes outside (or nowhere), never to the loopback site
    const before = a.hits.length;
    const outward = await rejection(
      httpFetchSkill({ allow: ["*.rebind.test"], resolver: resolver() }).run({ url: `http://www.rebind.test:${a.port}/` }, ctx(3_000)),
    );
    expect(JSON.stringify(outward)).not.toContain("hello");
    expect(a.hits.length).toBe(before);
    expect(dns.asked("www.rebind.test", "A")).toBe(1);
    // loopback first (a host named exactly may be private), outside next: it is the loopback site that answers
    const inward = (await httpFetchSkill({ allow: ["inward.test"], resolver: resolver() }).run({ url: `http://inward.test:${a.port}/` }, ctx(3_000))) as {
      body: string;
    };
    expect(inward.body).toBe("hello GET from 127.0.0.1");
    expect(a.hits.at(-1)!.headers.host).toBe(`inward.test:${a.port}`);
    expect(dns.asked("inward.test", "A")).toBe(1);
  });

  it("checks every redirect hop: a hop to a name that resolves inside is refused", async () => {
    const before = a.hits.length;
    const fetcher = httpFetchSkill({ allow: ["127.0.0.1", "*.inside.test"], resolver: resolver() });
    await expect(fetcher.run({ url: `http://127.0.0.1:${a.port}/to?u=http://api.inside.test:${a.port}/` }, ctx())).rejects.toMatchObject({
      code: "denied",
      message: expect.stringContaining("api.inside.test resolves to an address off the public internet"),
    });
    expect(a.hits.slice(before).map((h) => h.url)).toEqual([`/to?u=http://api.inside.test:${a.port}/`]);
  });

  it("drops Authorization, Cookie and Proxy-Authorization on a redirect to another host, and keeps them on its own (F19)", async () => {
    const fetcher = httpFetchSkill({ allow: ["127.0.0.1", "127.0.0.2"] });
    const headers = { Authorization: "Bearer s3cret", cookie: "session=s3cret", "PROXY-AUTHORIZATION": "Basic s3cret", "x-trace": "t-1" };
    const away = (await fetcher.run({ url: `http://127.0.0.1:${a.port}/to?u=http://127.0.0.2:${b.port}/headers`, headers }, ctx())) as {
      url: string;
      body: string;
    };
    expect(away.url).toBe(`http://127.0.0.2:${b.port}/headers`);
    const seen = JSON.parse(away.body) as Record<string, string>;
    expect(seen["x-trace"]).toBe("t-1");
    expect(Object.keys(seen).filter((k) => ["authorization", "cookie", "proxy-authorization"].includes(k))).toEqual([]);
    // the first host did get them
    expect(a.hits.at(-1)!.headers).toMatchObject({ authorization: "Bearer s3cret", cookie: "session=s3cret", "proxy-authorization": "Basic s3cret" });
    const home = (await fetcher.run({ url: `http://127.0.0.1:${a.port}/to?u=/headers`, headers }, ctx())) as { body: string };
    expect(JSON.parse(home.body)).toMatchObject({ authorization: "Bearer s3cret", cookie: "session=s3cret", "proxy-authorization": "Basic s3cret" });
  });

  it("takes host:port entries for private hosts, by address or name, and opens only that port (F13)", async () => {
    const byAddress = httpFetchSkill({ allow: [`127.0.0.1:${a.port}`] });
    expect(await byAddress.run({ url: `http://127.0.0.1:${a.port}/` }, ctx())).toMatchObject({ status: 200, body: "hello GET from 127.0.0.1" });
    await expect(byAddress.run({ url: `http://127.0.0.1:${b.port}/` }, ctx())).rejects.toMatchObject({
      code: "denied",
      message: expect.stringContaining("not among the hosts"),
    });
    const byName = httpFetchSkill({ allow: [`internal.svc:${a.port}`], resolver: resolver() });
    expect(await byName.run({ url: `http://internal.svc:${a.port}/` }, ctx())).toMatchObject({ status: 200, body: "hello GET from 127.0.0.1" });
    await expect(byName.run({ url: `http://internal.svc:${b.port}/` }, ctx())).rejects.toMatchObject({
      code: "denied",
      message: expect.stringContaining("not among the hosts"),
    });
    const ipv6 = httpFetchSkill({ allow: [`[::1]:${v6.port}`] });
    expect(await ipv6.run({ url: `http://[::1]:${v6.port}/` }, ctx())).toMatchObject({ status: 200, body: "hello GET from ::1" });
    // a wildcard entry never opens a private address, port or not
    await expect(
      httpFetchSkill({ allow: [`*.inside.test:${a.port}`], resolver: resolver() }).run({ url: `http://api.inside.test:${a.port}/` }, ctx()),
    ).rejects.toMatchObject({ code: "denied", message: expect.stringContaining("loopback") });
  });
});

/** A server whose responses are an endless body (until `capBytes`; `/small`: a short one), counting what it wrote before the client went away. */
async function endlessBody(capBytes: number): Promise<{ server: Server; port: number; written: () => number; closed: Promise<number> }> {
  let written = 0;
  let closedResolve!: (n: number) => void;
  const closed = new Promise<number>((r) => (closedResolve = r));
  const chunk = Buffer.alloc(64 * 1024, "x");
  const server = createServer((req, res) => {
    if (req.url === "/small") return res.writeHead(200).end("small");
    res.writeHead(200, { "content-type": "text/plain" });
    const pump = () => {
      while (written < capBytes) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    res.on("close", () => closedResolve(written));
    pump();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port, written: () => written, closed };
}

const rssMb = async (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

describe("http.fetch of a huge body (F9)", () => {
  it("reads 256 KB, cuts the connection, and says it was truncated", async () => {
    // endless enough: a reader that took it all (the bug) would hold 256 MB
    const huge = await endlessBody(256 * 1024 ** 2);
    try {
      const t0 = Date.now();
      const r = (await httpFetchSkill({ allow: [`127.0.0.1:${huge.port}`] }).run({ url: `http://127.0.0.1:${huge.port}/` }, ctx())) as {
        body: string;
        truncated: boolean;
      };
      expect(r.truncated).toBe(true);
      expect(r.body.length).toBe(MAX_BODY_BYTES);
      expect(Date.now() - t0).toBeLessThan(5_000);
      // the server saw the client go away after little more than the limit (socket buffers), not at the end
      expect(await huge.closed).toBeLessThan(16 * 1024 ** 2);
    } finally {
      huge.server.close();
    }
  });

  it("in a node: an endless body answers promptly, and the node's memory stays flat", async () => {
    await using nats = await natsServer();
    // the cap keeps a node that buffers (the bug) from taking the machine with it: 400 MB (~1 GB of memory there)
    const huge = await endlessBody(400 * 1024 ** 2);
    try {
      await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_HTTP_FETCH_ALLOW: `127.0.0.1:${huge.port}` } });
      const pid = node.child.pid!;
      const invoke = (path: string) =>
        fetch(`http://127.0.0.1:${node.httpPort}/v1/skills/http.fetch/invoke`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ input: { url: `http://127.0.0.1:${huge.port}${path}` }, timeout_ms: 25_000 }),
        });
      // a first call warms the skill path up, so that what is measured next is the body alone
      expect((await invoke("/small")).status).toBe(200);
      const base = await rssMb(pid);
      let peak = base;
      const sampler = setInterval(
        () =>
          void rssMb(pid).then(
            (m) => (peak = Math.max(peak, m)),
            () => undefined,
          ),
        20,
      );
      const t0 = Date.now();
      const res = await invoke("/");
      const took = Date.now() - t0;
      clearInterval(sampler);
      peak = Math.max(peak, await rssMb(pid));
      const out = (await res.json()) as { output: { body: string; truncated: boolean } };
      expect(res.status).toBe(200);
      expect(out.output).toMatchObject({ truncated: true });
      expect(out.output.body.length).toBe(MAX_BODY_BYTES);
      expect(took).toBeLessThan(5_000);
      expect(peak - base, `RSS ${base.toFixed(0)} MB → peak ${peak.toFixed(0)} MB`).toBeLessThan(64);
    } finally {
      huge.server.close();
    }
  }, 60_000);
});
