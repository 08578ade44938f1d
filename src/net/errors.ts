/**
 * Why a request made on someone's behalf was not sent. Each class carries a
 * stable `code`; callers branch on `instanceof` or `code`, never on message
 * text. "Refused" (a private address) and "not found" (a name that does not
 * resolve) stay apart: the first is a decision, the second may pass.
 */

/** Base class of every egress error. */
export class EgressError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EgressError";
    this.code = code;
  }
}

/** The host is, or resolved to, an address off the public internet (loopback, private, link-local, …), and this request may not go there. */
export class PrivateAddressError extends EgressError {
  readonly host: string;
  /** each refused address with its range, e.g. `127.0.0.1 (loopback)` */
  readonly refused: string[];
  /** @param literal the host is an IP address itself, not a name */
  constructor(host: string, refused: string[], literal: boolean) {
    super(
      "private_address",
      literal ? `${refused.join(", ")} is not on the public internet` : `${host} resolves to an address off the public internet: ${refused.join(", ")}`,
    );
    this.name = "PrivateAddressError";
    this.host = host;
    this.refused = refused;
  }
}

/** The host name did not resolve (no such name, no addresses, or no DNS server answered). */
export class UnresolvableHostError extends EgressError {
  readonly host: string;
  constructor(host: string, why: string, options?: { cause?: unknown }) {
    super("unresolvable_host", `${host} does not resolve: ${why}`, options);
    this.name = "UnresolvableHostError";
    this.host = host;
  }
}
