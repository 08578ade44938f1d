import { createServer } from "node:http";
import { describe, expect, it } from "vitest";
import { httpFetchSkill } from "../../src/skills/index.js";

const ctx = () => ({ signal: new AbortController().signal, deadline: Date.now() + 10_000 });

describe("http.fetch", () => {
  it("reaches only the hosts the node allows, never a private address it did not name, nor a redirect elsewhere", async () => {
    const server = createServer((req, res) => {
      if (req.url === "/away") {
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data" });
        return res.end();
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`hello ${req.method}`);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      await expect(httpFetchSkill([]).run({ url }, ctx())).rejects.toMatchObject({ code: "denied", message: expect.stringContaining("CLAW_HTTP_FETCH_ALLOW") });
      // a host allowed by a wildcard that resolves to a private address is refused (DNS pointing inside)
      await expect(httpFetchSkill(["*.0.0.1"]).run({ url }, ctx())).rejects.toMatchObject({ code: "denied", message: expect.stringContaining("private or loopback") });
      const ok = (await httpFetchSkill(["127.0.0.1"]).run({ url, method: "POST", body: "x" }, ctx())) as { status: number; body: string };
      expect(ok).toMatchObject({ status: 200, body: "hello POST" });
      await expect(httpFetchSkill(["127.0.0.1"]).run({ url: `${url}/away` }, ctx())).rejects.toMatchObject({ code: "denied", message: expect.stringContaining("169.254.169.254") });
      await expect(httpFetchSkill(["127.0.0.1"]).run({ url: "file:///etc/passwd" }, ctx())).rejects.toMatchObject({ code: "denied" });
    } finally {
      server.close();
    }
  });
});
