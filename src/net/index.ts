/**
 * Requests Claw makes on someone's behalf (`http.fetch`, webhook
 * deliveries): which addresses are on the public internet, a host resolved
 * once, and connections pinned to the addresses that were checked. A leaf:
 * it imports nothing of Claw's.
 */
export { addressRange, isPublicAddress, type AddressRange } from "./address-range.js";
export { createHostResolver, parseDnsServer, type HostResolver, type HostResolverOptions, type ResolvedAddress } from "./host-resolver.js";
export { hostOf, loadUndici, pinnedAgent, pinTarget, type PinnedTarget, type PinOptions } from "./pinned-target.js";
export { EgressError, PrivateAddressError, UnresolvableHostError } from "./errors.js";
