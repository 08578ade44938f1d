/**
 * The gRPC ingress's names, in a module of their own: the node reads them at
 * start, and grpc-js's modules (claw-service.ts and what it imports) load only
 * on the first gRPC connection (server.ts).
 */
export { CLAW_PROTO } from "../paths.js";
/** The service's full name (and the health service's name for it). */
export const CLAW_SERVICE = "claw.v1.Claw";
/** The channel and sender a gRPC caller's messages have unless it names them. */
export const GRPC_CHANNEL = "grpc";
