/**
 * Docker API endpoints as `DOCKER_HOST` spells them, parsed for dockerode —
 * apart from the driver, so that validating the configuration does not load
 * dockerode.
 */
import type { DockerOptions } from "dockerode";

/** How dockerode reaches `host` (`unix:///path.sock`, or `tcp://host:port` over plain HTTP); undefined for any other form. */
export function dockerEndpoint(host: string): DockerOptions | undefined {
  const unix = /^unix:\/\/(\/.+)$/.exec(host);
  if (unix) return { socketPath: unix[1] };
  const tcp = /^tcp:\/\/([^/:\s[\]]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})\/?$/.exec(host);
  if (tcp && Number(tcp[2]) <= 65_535) return { protocol: "http", host: tcp[1]!.replace(/^\[|\]$/g, ""), port: Number(tcp[2]) };
  return undefined;
}
