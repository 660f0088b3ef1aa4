/**
 * @module
 * What a machine serves: the supervisor and the services installed on it, behind an RPC server that
 * refuses any request not carrying the session secret. Every system builds its machines with this, in
 * a process of their own (`serveMachine`) or in-process (the test system).
 */
import { timingSafeEqual } from "node:crypto";
import os from "node:os";
import { inspect } from "node:util";
import type { HeaderReader } from "./rpc/endpoint.ts";
import { RpcServer } from "./rpc/index.ts";
import { ServiceTable } from "./services.ts";
import { Session } from "./session.ts";
import { SUPERVISOR, Supervisor, type SupervisorOptions } from "./supervisor.ts";
import { SECRET_HEADER, type System } from "./system.ts";

/** Options for {@link createMachineEndpoint}. */
export interface MachineEndpointOptions {
  system: System;
  /** The session secret every request must carry in {@link SECRET_HEADER}. */
  secret: string;
  /** Ends the machine; default `system.exit`. */
  exit?: (code: number) => void;
  /** Writes a line of machine output (failed calls with their stacks among them); default standard output. */
  log?: (line: string) => void;
  /** Time allowed before the first keepalive; default max(60 s, 3 × the keepalive timeout). */
  firstKeepaliveWindowMs?: number;
  /** See {@link SupervisorOptions.exec}. */
  exec?: SupervisorOptions["exec"];
}

/** A machine's server side: its endpoint, supervisor and service table. */
export interface MachineEndpoint {
  server: RpcServer;
  supervisor: Supervisor;
  services: ServiceTable;
  session: Session;
}

/** Builds a request check that accepts exactly the given secret, in constant time. */
export function secretAuthorizer(secret: string): (headers: HeaderReader) => boolean {
  const want = Buffer.from(secret);
  return (headers) => {
    const got = headers.get(SECRET_HEADER);
    if (got === null) return false;
    const gotBytes = Buffer.from(got);
    return gotBytes.length === want.length && timingSafeEqual(gotBytes, want);
  };
}

/** Builds the supervisor, service table and RPC server of one machine. */
export function createMachineEndpoint(options: MachineEndpointOptions): MachineEndpoint {
  const { system } = options;
  const services = new ServiceTable();
  const session = new Session(system, "machine", services);
  const log = options.log ?? ((line) => process.stdout.write(`${line}\n`));
  // A failed call's stack stays in the machine's log; the caller gets it only if its session asks.
  const errors = { log: (method: string, err: unknown) => log(`bigmachine: ${method} failed: ${inspect(err)}`) };
  const server = new RpcServer({ dispatcher: services, authorize: secretAuthorizer(options.secret), errors });
  const supervisor = new Supervisor({
    services,
    session,
    exit: options.exit ?? ((code) => system.exit(code)),
    log,
    sendErrorStacks: (on) => (server.errorReplies.stacks = on),
    firstKeepaliveWindowMs: options.firstKeepaliveWindowMs ?? Math.max(60_000, 3 * system.keepaliveConfig().timeoutMs),
    maxprocs: system.maxprocs() || os.availableParallelism(),
    rpcStats: () => server.stats(),
    exec: options.exec,
    accept: (link) => void server.accept(link),
  });
  services.add(SUPERVISOR, supervisor);
  return { server, supervisor, services, session };
}
