/**
 * One series of a node's `/metrics`, read the way Prometheus would. A series
 * the node does not expose is an error, not 0: a renamed metric or a wrong
 * label must fail the test that reads it, not pass as "nothing happened".
 */

/** The value of `series` (name and labels exactly as exposed, e.g. `claw_ready` or `claw_dlq_total{stage="session",reason="x"}`). */
export async function metric(httpPort: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  if (!line) {
    const name = series.split("{")[0]!;
    const near = text
      .split("\n")
      .filter((l) => l.startsWith(name))
      .slice(0, 10);
    throw new Error(`the node exposes no series ${series}${near.length ? `; it has:\n${near.join("\n")}` : ` (nor any ${name})`}`);
  }
  return Number(line.split(" ").at(-1));
}
