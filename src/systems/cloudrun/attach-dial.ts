/**
 * @module
 * Dialing an attach: the WebSocket upgrade of a service's attach route, with one deadline for the whole
 * attach, the affinity cookie kept, and a refused upgrade turned into a typed error (the table is in
 * `attach-client.ts`). The worker's refusals carry their reason in {@link ATTACH_REFUSAL_HEADER}; an
 * answer without it came from in front of the worker.
 */
import WebSocket from "ws";
import { BigmachineError, DEFAULT_MAX_MESSAGE_BYTES, errorOf, refusalBody } from "../../core.ts";
import { ATTACH_PATH, ATTACH_REFUSAL_HEADER } from "./attach-protocol.ts";
import { TunnelSocket } from "./tunnel-socket.ts";

/** Largest message accepted from the worker: above the RPC limit, as the RPC layer's own sockets allow. */
const MAX_PAYLOAD_BYTES = 2 * DEFAULT_MAX_MESSAGE_BYTES;

/** The `ws(s)://` attach URL of a service's `http(s)://` URL. */
export function attachUrl(serviceUrl: string): string {
  let url: URL;
  try {
    url = new URL(ATTACH_PATH, serviceUrl);
  } catch {
    throw errorOf("invalid", `${JSON.stringify(serviceUrl)} is not a service URL`, { severity: "fatal" });
  }
  if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol === "http:") url.protocol = "ws:";
  else throw errorOf("invalid", `service URL ${serviceUrl} must be http or https`, { severity: "fatal" });
  return url.toString();
}

/** One deadline for a whole attach, which the caller's signal can also end. */
export class Deadline {
  readonly #end: number;
  readonly #timeoutMs: number;
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #callerSignal: AbortSignal | undefined;
  readonly #onCallerAbort = () => this.#controller.abort();

  constructor(timeoutMs: number, signal?: AbortSignal) {
    this.#timeoutMs = timeoutMs;
    this.#end = Date.now() + timeoutMs;
    this.#callerSignal = signal;
    this.#timer = setTimeout(() => this.#controller.abort(), timeoutMs);
    signal?.addEventListener("abort", this.#onCallerAbort, { once: true });
    if (signal?.aborted) this.#controller.abort();
  }

  /** Aborts when the deadline passes or the caller aborts. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get remainingMs(): number {
    return Math.max(1, this.#end - Date.now());
  }

  /** The error for an abort of {@link signal}: `canceled` if the caller aborted, else `timeout`. */
  error(what: string): BigmachineError {
    if (this.#callerSignal?.aborted) return errorOf("canceled", `${what}: canceled`, { severity: "fatal", cause: this.#callerSignal.reason });
    return errorOf("timeout", `${what}: no answer within ${this.#timeoutMs} ms`);
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#callerSignal?.removeEventListener("abort", this.#onCallerAbort);
  }
}

/** Dials the attach route; a refused upgrade becomes a typed error (see {@link refusalError}). */
export function dial(serviceUrl: string, headers: Record<string, string>, deadline: Deadline): Promise<{ tunnel: TunnelSocket; cookie: string | undefined }> {
  const url = attachUrl(serviceUrl);
  if (deadline.signal.aborted) return Promise.reject(deadline.error(`attach to ${serviceUrl}`));
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, maxPayload: MAX_PAYLOAD_BYTES });
    let cookie: string | undefined;
    let settled = false;
    const fail = (err: BigmachineError) => {
      if (settled) return;
      settled = true;
      deadline.signal.removeEventListener("abort", onAbort);
      ws.removeAllListeners();
      ws.on("error", () => {}); // late errors of a socket given up on must not crash the driver
      ws.terminate();
      reject(err);
    };
    const onAbort = () => fail(deadline.error(`attach to ${serviceUrl}`));
    deadline.signal.addEventListener("abort", onAbort, { once: true });
    ws.once("upgrade", (res) => (cookie = cookieOf(res.headers["set-cookie"])));
    ws.once("open", () => {
      if (settled) return;
      settled = true;
      deadline.signal.removeEventListener("abort", onAbort);
      ws.removeAllListeners("unexpected-response");
      ws.removeAllListeners("error");
      const tunnel = new TunnelSocket(ws);
      resolve({ tunnel, cookie });
    });
    ws.on("error", (err) => fail(errorOf("net", `attach to ${serviceUrl}: ${err.message}`, { cause: err })));
    ws.once("unexpected-response", (_req, res) => {
      void refusalBody(res).then((bytes) => {
        const reason = res.headers[ATTACH_REFUSAL_HEADER];
        fail(refusalError(serviceUrl, res.statusCode ?? 0, typeof reason === "string" ? reason : undefined, bytes.toString("utf8").trim()));
      });
    });
  });
}

/** The `Cookie` header value made of the `name=value` parts of `Set-Cookie` answers. */
export function cookieOf(setCookie: string[] | undefined): string | undefined {
  const pairs = (setCookie ?? []).map((line) => line.split(";")[0].trim()).filter((pair) => pair.includes("="));
  return pairs.length > 0 ? pairs.join("; ") : undefined;
}

/** The HTTP status of refused attaches, by their error, and who refused (the worker or the front end). */
const refusals = new WeakMap<BigmachineError, { status: number; byWorker: boolean }>();

/** The status an attach was refused with, and whether the worker (not Cloud Run's front end) refused it. */
export function refusalOf(err: unknown): { status: number; byWorker: boolean } | undefined {
  return err instanceof BigmachineError ? refusals.get(err) : undefined;
}

/**
 * The error for a refused attach. `workerReason` is the worker's {@link ATTACH_REFUSAL_HEADER}; its
 * absence means the answer came from in front of the worker (Cloud Run's front end).
 */
export function refusalError(serviceUrl: string, status: number, workerReason: string | undefined, body: string): BigmachineError {
  const err = refusalKind(serviceUrl, status, workerReason, body);
  refusals.set(err, { status, byWorker: workerReason !== undefined });
  return err;
}

function refusalKind(serviceUrl: string, status: number, workerReason: string | undefined, body: string): BigmachineError {
  const from = workerReason !== undefined ? "the worker" : "the service";
  const message = `attach to ${serviceUrl} refused by ${from} with HTTP ${status}${workerReason || body ? `: ${workerReason || body}` : ""}`;
  switch (status) {
    case 401:
    case 403:
      return errorOf("unauthorized", message, { severity: "fatal" });
    case 400:
      return errorOf("invalid", message, { severity: "fatal" });
    case 404:
      return workerReason !== undefined ? errorOf("unavailable", message, { severity: "temporary" }) : errorOf("not-exist", message, { severity: "fatal" });
    case 409:
    case 429:
    case 503:
      return errorOf("unavailable", message, { severity: "temporary" });
    case 410:
      return errorOf("unavailable", message, { severity: "fatal" });
    default:
      return errorOf("net", message, { severity: "temporary" });
  }
}
