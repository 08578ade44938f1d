import { describe, expect, it } from "vitest";
import { addressRange, isPublicAddress } from "../../src/net/index.js";

describe("addressRange", () => {
  it.each([
    // the red team's (F8): IPv6 forms of private IPv4, and IPv4 ranges the old list missed
    ["::ffff:0.0.0.0", "unspecified", "0.0.0.0"],
    ["::ffff:7f00:1", "loopback", "127.0.0.1"],
    ["::ffff:172.16.0.1", "private", "172.16.0.1"],
    ["::ffff:172.31.255.255", "private", "172.31.255.255"],
    ["100.64.0.1", "carrierGradeNat", "100.64.0.1"],
    ["100.127.255.254", "carrierGradeNat", "100.127.255.254"],
    ["198.18.0.1", "reserved", "198.18.0.1"],
    ["198.19.255.255", "reserved", "198.19.255.255"],
    ["64:ff9b::7f00:1", "loopback", "127.0.0.1"],
    ["64:ff9b::a00:5", "private", "10.0.0.5"],
    ["64:ff9b::a9fe:a9fe", "linkLocal", "169.254.169.254"],
    ["2002:a00:5::1", "private", "10.0.0.5"],
    ["::7f00:1", "loopback", "127.0.0.1"],
    ["::ffff:0:7f00:1", "loopback", "127.0.0.1"],
    // refused whole: what they lead to cannot be read off
    ["64:ff9b:1::a00:5", "rfc8215", "64:ff9b:1::a00:5"],
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2"],
    // the plain ones
    ["127.0.0.1", "loopback", "127.0.0.1"],
    ["10.1.2.3", "private", "10.1.2.3"],
    ["192.168.1.1", "private", "192.168.1.1"],
    ["169.254.169.254", "linkLocal", "169.254.169.254"],
    ["0.0.0.0", "unspecified", "0.0.0.0"],
    ["255.255.255.255", "broadcast", "255.255.255.255"],
    ["224.0.0.1", "multicast", "224.0.0.1"],
    ["::", "unspecified", "::"],
    ["::1", "loopback", "::1"],
    ["fd00::1", "uniqueLocal", "fd00::1"],
    ["fe80::1", "linkLocal", "fe80::1"],
    ["fec0::1", "deprecatedSiteLocal", "fec0::1"],
    ["2001:db8::1", "reserved", "2001:db8::1"],
  ])("%s is %s (judged as %s)", (address, range, judged) => {
    expect(addressRange(address)).toEqual({ range, judged });
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(["1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "172.32.0.1", "100.128.0.1"])(
    "%s is on the public internet",
    (address) => {
      expect(addressRange(address).range).toBe("unicast");
      expect(isPublicAddress(address)).toBe(true);
    },
  );

  it.each(["localhost", "127.1", "0x7f000001", "2130706433", "[::1]", "", "1.2.3.4.5", "::ffff:999.0.0.1"])("%j is not an IP literal, so not public", (s) => {
    expect(addressRange(s).range).toBe("invalid");
    expect(isPublicAddress(s)).toBe(false);
  });
});
