import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { chatPartition, DEFAULT_PARTITIONS, fnv1a32, keyPartition, partitionMappingConf } from "../../src/bus/index.js";

describe("partition function", () => {
  it("is FNV-1a 32 bit", () => {
    // reference vectors of FNV-1a 32
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });

  it("spreads chats over every partition, deterministically", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      const p = chatPartition({ channel: "tg", account: "bot", chat: String(i) }, DEFAULT_PARTITIONS);
      expect(p).toBe(chatPartition({ channel: "tg", account: "bot", chat: String(i) }, DEFAULT_PARTITIONS));
      seen.add(p);
    }
    expect(seen.size).toBe(DEFAULT_PARTITIONS);
    expect(keyPartition("echo.x", 8)).toBeLessThan(8);
  });

  it("is the mapping shipped in every nats/ config", () => {
    for (const f of ["single.conf", "cluster-1.conf", "cluster-2.conf", "cluster-3.conf"]) {
      const conf = readFileSync(new URL(`../../nats/${f}`, import.meta.url), "utf8");
      expect(conf, f).toContain(partitionMappingConf(DEFAULT_PARTITIONS).trim());
    }
  });
});
