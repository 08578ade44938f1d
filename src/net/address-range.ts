/**
 * Which part of the address space an IP address is in, the way a request
 * made on someone's behalf must see it: an IPv6 address that carries an IPv4
 * one (IPv4-mapped `::ffff:a.b.c.d`, SIIT, NAT64 `64:ff9b::/96`, 6to4,
 * IPv4-compatible `::a.b.c.d`) is judged by the IPv4 address inside, because
 * that is what the packets reach. Ranges come from ipaddr.js (the IANA
 * special-purpose registries); only `unicast` is the public internet.
 */
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/** An address's range, and the address it was judged by (the embedded IPv4 one, when there is one). */
export interface AddressRange {
  /** `unicast` (public), or ipaddr.js's name of a special range (`loopback`, `private`, `carrierGradeNat`, `uniqueLocal`, …), or `invalid` */
  range: string;
  /** the address the range is of */
  judged: string;
}

/** IPv6 prefixes whose last 32 bits, or bits 16–47 for 6to4, are the IPv4 address they lead to. */
const EMBEDS_IPV4: Array<{ prefix: [ipaddr.IPv6, number]; at: number }> = [
  { prefix: ipaddr.IPv6.parseCIDR("::ffff:0:0/96"), at: 6 }, // IPv4-mapped
  { prefix: ipaddr.IPv6.parseCIDR("::ffff:0:0:0/96"), at: 6 }, // SIIT (RFC 6145)
  { prefix: ipaddr.IPv6.parseCIDR("64:ff9b::/96"), at: 6 }, // NAT64 well-known prefix (RFC 6052)
  { prefix: ipaddr.IPv6.parseCIDR("2002::/16"), at: 1 }, // 6to4 (RFC 3056)
  { prefix: ipaddr.IPv6.parseCIDR("::/96"), at: 6 }, // IPv4-compatible (deprecated, still routed by some stacks)
];

/** Ranges refused whole, whatever follows the prefix: the address they lead to cannot be read off reliably. */
const OPAQUE: Array<{ prefix: [ipaddr.IPv6, number]; range: string }> = [
  { prefix: ipaddr.IPv6.parseCIDR("64:ff9b:1::/48"), range: "rfc8215" }, // local-use NAT64, any prefix length
  { prefix: ipaddr.IPv6.parseCIDR("2001::/32"), range: "teredo" },
];

/** The range of `address` (an IP literal, IPv6 without brackets). Anything that is not a plain IP literal is `invalid`. */
export function addressRange(address: string): AddressRange {
  if (isIP(address) === 0) return { range: "invalid", judged: address };
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address);
  } catch {
    return { range: "invalid", judged: address };
  }
  if (ip.kind() === "ipv4") return { range: ip.range(), judged: ip.toString() };
  const v6 = ip as ipaddr.IPv6;
  // `::` and `::1` sit inside ::/96 but are IPv6's own unspecified and loopback addresses
  const own = v6.range();
  if (own === "unspecified" || own === "loopback") return { range: own, judged: v6.toString() };
  for (const o of OPAQUE) if (v6.match(o.prefix)) return { range: o.range, judged: v6.toString() };
  for (const e of EMBEDS_IPV4) {
    if (!v6.match(e.prefix)) continue;
    const p = v6.parts;
    const v4 = new ipaddr.IPv4([p[e.at]! >> 8, p[e.at]! & 0xff, p[e.at + 1]! >> 8, p[e.at + 1]! & 0xff]);
    return { range: v4.range(), judged: v4.toString() };
  }
  return { range: own, judged: v6.toString() };
}

/** True only for an address on the public internet (range `unicast`, after unwrapping an embedded IPv4 address). */
export function isPublicAddress(address: string): boolean {
  return addressRange(address).range === "unicast";
}
