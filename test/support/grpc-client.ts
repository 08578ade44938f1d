/**
 * A stock gRPC client for tests: `@grpc/grpc-js` with stubs loaded from the
 * repository's proto/claw/v1/claw.proto (as any user would), the standard
 * health service's stub, and server reflection's.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { credentials as grpcCredentials, loadPackageDefinition, Metadata, type ChannelCredentials, type Client, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

export const CLAW_PROTO_PATH = fileURLToPath(new URL("../../proto/claw/v1/claw.proto", import.meta.url));
const NODE_MODULES = fileURLToPath(new URL("../../node_modules/", import.meta.url));
export const HEALTH_PROTO_PATH = join(NODE_MODULES, "grpc-health-check/proto/health/v1/health.proto");
const REFLECTION_PROTO_PATH = join(NODE_MODULES, "@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");

const OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true } as const;

type Ctor = new (address: string, creds: ChannelCredentials) => Client;
type Pkg = { [k: string]: Pkg & Ctor };

function serviceCtor(path: string, name: string): Ctor {
  const pkg = loadPackageDefinition(loadSync(path, OPTIONS)) as unknown as Pkg;
  return name.split(".").reduce<Pkg>((p, part) => p[part]!, pkg) as unknown as Ctor;
}

/** A call's outcome: its answer, or its status with trailers. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ServiceError };

/** A client of one service whose methods are called by name. */
export interface TestGrpc {
  client: Client;
  /** a unary call; `bearer` goes in `authorization`; `deadlineMs` is the call's deadline from now */
  unary<T = Record<string, unknown>>(method: string, req: unknown, o?: { bearer?: string; deadlineMs?: number }): Promise<Outcome<T>>;
  /** a server-streaming call read to its end: the messages and how it ended */
  stream<T = Record<string, unknown>>(
    method: string,
    req: unknown,
    o?: { bearer?: string; deadlineMs?: number; until?: (got: T[]) => boolean },
  ): Promise<{ messages: T[]; error?: ServiceError; status?: number }>;
  close(): void;
}

function metadataOf(bearer: string | undefined): Metadata {
  const m = new Metadata();
  if (bearer !== undefined) m.set("authorization", `Bearer ${bearer}`);
  return m;
}

function clientOf(ctor: Ctor, address: string, creds: ChannelCredentials): TestGrpc {
  const client = new ctor(address, creds);
  const fn = (method: string) => (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!.bind(client);
  return {
    client,
    unary: (method, req, o = {}) =>
      new Promise((resolve) => {
        const opts = o.deadlineMs === undefined ? {} : { deadline: Date.now() + o.deadlineMs };
        fn(method)(req, metadataOf(o.bearer), opts, (e: ServiceError | null, v: unknown) =>
          resolve(e ? { ok: false, error: e } : { ok: true, value: v as never }),
        );
      }),
    stream: (method, req, o = {}) =>
      new Promise((resolve) => {
        const opts = o.deadlineMs === undefined ? {} : { deadline: Date.now() + o.deadlineMs };
        const call = fn(method)(req, metadataOf(o.bearer), opts) as NodeJS.EventEmitter & { cancel(): void };
        const messages: never[] = [];
        let error: ServiceError | undefined;
        call.on("data", (m: never) => {
          messages.push(m);
          if (o.until?.(messages)) call.cancel();
        });
        call.on("error", (e: ServiceError) => (error = e));
        call.on("status", (s: { code: number }) => resolve({ messages, error, status: s.code }));
      }),
    close: () => client.close(),
  };
}

/** A client of `claw.v1.Claw` at `address` (plain, unless `creds` say TLS). */
export function clawClient(address: string, creds: ChannelCredentials = grpcCredentials.createInsecure()): TestGrpc {
  return clientOf(serviceCtor(CLAW_PROTO_PATH, "claw.v1.Claw"), address, creds);
}

/** A client of `grpc.health.v1.Health`. */
export function healthClient(address: string, creds: ChannelCredentials = grpcCredentials.createInsecure()): TestGrpc {
  return clientOf(serviceCtor(HEALTH_PROTO_PATH, "grpc.health.v1.Health"), address, creds);
}

/** The services a server lists through reflection (`grpc.reflection.v1.ServerReflection`), and the file descriptors that define `symbol`. */
export function reflect(address: string, symbol: string): Promise<{ services: string[]; files: Buffer[] }> {
  const ctor = serviceCtor(REFLECTION_PROTO_PATH, "grpc.reflection.v1.ServerReflection");
  const client = new ctor(address, grpcCredentials.createInsecure());
  const call = (client as unknown as { ServerReflectionInfo(): NodeJS.EventEmitter & { write(v: unknown): void; end(): void } }).ServerReflectionInfo();
  const services: string[] = [];
  const files: Buffer[] = [];
  return new Promise((resolve, reject) => {
    call.on("data", (r: { list_services_response?: { service: Array<{ name: string }> }; file_descriptor_response?: { file_descriptor_proto: Buffer[] } }) => {
      for (const s of r.list_services_response?.service ?? []) services.push(s.name);
      files.push(...(r.file_descriptor_response?.file_descriptor_proto ?? []));
    });
    call.on("error", reject);
    call.on("end", () => {
      client.close();
      resolve({ services, files });
    });
    call.write({ list_services: "" });
    call.write({ file_containing_symbol: symbol });
    call.end();
  });
}

/** The status code's name (grpc-js `status`). */
export { status } from "@grpc/grpc-js";
