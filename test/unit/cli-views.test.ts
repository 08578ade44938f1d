import { describe, expect, it } from "vitest";
import { renderClusterStatus } from "../../src/cli/cluster-view.js";
import { renderSessionReport, type SessionReport } from "../../src/cli/inspect.command.js";
import { redactSecrets } from "../../src/ui/index.js";
import { formatDuration, formatTable } from "../../src/cli/text-table.js";
import { formatLatency, renderTopFrame, topFrame, type ScrapeResult } from "../../src/cli/top-view.js";
import { parsePrometheusText } from "../../src/cli/prometheus-text.js";
import type { ClusterStatus, MemberInfo } from "../../src/supervisors/index.js";

const NOW = 1_800_000_000_000;

function member(node: string, http?: string): MemberInfo {
  return { node, version: "0.1.0", pid: 100, startedAt: NOW - 125_000, partitions: 2, sessions: 1, http, ts: NOW };
}

const status: ClusterStatus = {
  leader: "a",
  epoch: 7,
  members: [
    { ...member("a", "http://10.0.0.1:8080"), ready: true },
    { ...member("b"), ready: false, notReady: ["jetstream: storage full"] },
  ],
  partitions: [
    { partition: 0, owner: "a", pending: 0, inFlight: 0 },
    { partition: 1, owner: "a", pending: 3, inFlight: 1 },
    { partition: 2, owner: "b", pending: 0, inFlight: 0 },
    { partition: 3, owner: "gone", pending: 0, inFlight: 2 },
  ],
  dlq: { total: 3, byStage: { ingress: 1, session: 2 } },
};

describe("cluster views", () => {
  it("status lists versions, pids, uptime, backlog, HTTP address, readiness and dead letters per stage", () => {
    const text = renderClusterStatus(status, "full", NOW);
    expect(text).toContain("leader: a   assignment epoch: 7   members: 2   dead letters: 3 (ingress 1, session 2)");
    expect(text).toMatch(/^NODE\s+VERSION\s+PID\s+UP\s+PARTITIONS\s+SESSIONS\s+PENDING\s+IN-FLIGHT\s+HTTP\s+READY$/m);
    expect(text).toMatch(/^a \*\s+0\.1\.0\s+100\s+2m05s\s+2\s+1\s+3\s+1\s+http:\/\/10\.0\.0\.1:8080\s+yes$/m);
    expect(text).toMatch(/^b\s+0\.1\.0\s+100\s+2m05s\s+2\s+1\s+0\s+0\s+-\s+no: jetstream: storage full$/m);
    expect(text).toContain("partitions with backlog: 1(a: 3+1) 3(gone: 0+2)");
    expect(text).toContain("partitions assigned to no live member: 3(gone)");
  });

  it("cluster keeps its brief columns", () => {
    const text = renderClusterStatus(status, "brief", NOW);
    expect(text.split("\n")[0]).toBe("leader: a   assignment epoch: 7   members: 2");
    expect(text).toMatch(/^NODE\s+PARTITIONS\s+SESSIONS\s+PENDING\s+IN-FLIGHT\s+UP$/m);
    expect(text).toMatch(/^a \*\s+2\s+1\s+3\s+1\s+2m05s$/m);
  });

  it("formats tables without trailing spaces and durations for humans", () => {
    expect(
      formatTable(
        [
          { header: "A", cell: (r: number) => r },
          { header: "LONG", align: "right", cell: (r: number) => r * 100 },
        ],
        [1, 22],
      ),
    ).toEqual(["A   LONG", "1    100", "22  2200"]);
    expect([0, 59_999, 60_000, 3_599_000, 3_600_000, 90_061_000].map(formatDuration)).toEqual(["0s", "59s", "1m00s", "59m59s", "1h00m", "1d01h"]);
  });
});

describe("claw top frame", () => {
  const scrape = (at: number, text: string): ScrapeResult => ({ ok: true, scrape: { at, samples: parsePrometheusText(text) } });

  it("shows rates for scraped nodes and says why others have none", () => {
    const members = [member("a", "http://a:1"), member("b", "http://b:1"), member("c")];
    const before = new Map<string, ScrapeResult>([
      [
        "a",
        scrape(
          0,
          'claw_messages_in_total{channel="x"} 10\nclaw_messages_out_total{channel="x"} 10\nclaw_sessions_active 4\nclaw_partitions_owned 2\nclaw_leader 1',
        ),
      ],
      ["b", { ok: false, error: "GET http://b:1/metrics: ECONNREFUSED" }],
    ]);
    const after = new Map<string, ScrapeResult>([
      [
        "a",
        scrape(
          2000,
          'claw_messages_in_total{channel="x"} 30\nclaw_messages_out_total{channel="x"} 14\nclaw_sessions_active 5\nclaw_partitions_owned 2\nclaw_leader 1',
        ),
      ],
      ["b", { ok: false, error: "GET http://b:1/metrics: ECONNREFUSED" }],
    ]);
    const f = topFrame({ ...status, members }, before, after, NOW);
    expect(f.intervalSeconds).toBe(2);
    expect(f.nodes.map((n) => [n.node, n.rates?.inPerSec, n.rates?.outPerSec, n.lag, n.error])).toEqual([
      ["a", 10, 2, 4, undefined],
      ["b", undefined, undefined, 0, "GET http://b:1/metrics: ECONNREFUSED"],
      ["c", undefined, undefined, 0, "no HTTP address yet"],
    ]);
    const text = renderTopFrame(f);
    expect(text).toMatch(/^NODE\s+IN\/S\s+OUT\/S\s+P99 E2E\s+SESSIONS\s+PARTITIONS\s+LAG$/m);
    expect(text).toMatch(/^a \*\s+10\.0\s+2\.0\s+-\s+5\s+2\s+4$/m);
    expect(text).toMatch(/^b\s+-\s+-\s+-\s+-\s+1\s+0\s+GET http:\/\/b:1\/metrics: ECONNREFUSED$/m);
    expect(text).toContain("total: 10.0 in/s   2.0 out/s   lag 4");
    expect(text).toContain("dead letters: 3");
  });

  it("formats latencies from microseconds to seconds", () => {
    expect([undefined, 0.0004, 0.0123, 1.2].map(formatLatency)).toEqual(["-", "400µs", "12.3ms", "1.20s"]);
  });
});

describe("claw inspect view", () => {
  const report: SessionReport = {
    agent: "echo",
    session: "web:cli:me",
    key: "echo.web=3Acli=3Ame",
    revision: 4,
    readable: true,
    state: "idle",
    status: "active",
    turns: 1,
    lastTurnId: "m1",
    historyLimit: 20,
    history: [
      { role: "user", text: "hi", id: "m1", ts: Date.UTC(2026, 0, 2, 3, 4, 5, 6) },
      { role: "assistant", text: "hi", id: "m1:reply:0", ts: Date.UTC(2026, 0, 2, 3, 4, 5, 9) },
    ],
    live: [],
    schedules: [{ id: "sc0123456789abcdef", when: "cron 0 9 * * 1-5 Europe/Berlin", next: "2026-01-05T08:00:00.000Z", text: "standup" }],
  };

  it("prints state, history, what it is scheduled to be sent, and that a passivated session is not live", () => {
    const text = renderSessionReport(report);
    expect(text).toContain('schedule  sc0123456789abcdef cron 0 9 * * 1-5 Europe/Berlin, next 2026-01-05T08:00:00.000Z: "standup"');
    expect(text).toContain("session   echo / web:cli:me   (key echo.web=3Acli=3Ame, revision 4)");
    expect(text).toMatch(/^state\s+idle\s+turns 1\s+last turn m1$/m);
    expect(text).toMatch(/^live\s+no \(passivated/m);
    expect(text).toContain("history   2 turn(s), at most 20 kept");
    expect(text).toContain("  2026-01-02 03:04:05.006  user       hi\n  2026-01-02 03:04:05.009  assistant  hi\n");
  });

  it("redacts credentials in a message caught mid-turn", () => {
    const envelope = { id: "m2", text: "deploy", metadata: { apiKey: "sk-123", authorization: "Bearer x" } } as unknown as NonNullable<
      SessionReport["current"]
    >["envelope"];
    const shown = JSON.stringify(redactSecrets({ ...report, current: { envelope, attempt: 2 } }));
    expect(shown).not.toContain("sk-123");
    expect(shown).not.toContain("Bearer x");
    expect(shown).toContain('"text":"deploy"');
  });
});
