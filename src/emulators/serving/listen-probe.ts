/**
 * @module
 * Whether an instance listens the way Cloud Run needs: on all interfaces (`0.0.0.0` or `::`), not on
 * loopback alone. Cloud Run reaches a container through its network interface, so a server bound to
 * 127.0.0.1 never becomes ready there. Here every instance runs on this host, so the probe dials
 * another loopback address, 127.0.0.2: a socket bound to all interfaces accepts it, one bound to
 * 127.0.0.1 does not. Where 127.0.0.2 is not routed (macOS by default), probes fall back to 127.0.0.1
 * and a loopback-only server cannot be told apart.
 */
import net from "node:net";

/** The address probes and proxied requests use unless the host does not route it. */
export const PROBE_ADDRESS = "127.0.0.2";
const FALLBACK_ADDRESS = "127.0.0.1";

let address: Promise<string> | undefined;

/** The address to reach instances at: {@link PROBE_ADDRESS} where this host routes it, else 127.0.0.1. */
export function instanceAddress(): Promise<string> {
  return (address ??= routesProbeAddress().then((routed) => (routed ? PROBE_ADDRESS : FALLBACK_ADDRESS)));
}

/** Whether a server on all interfaces accepts connections to {@link PROBE_ADDRESS} here. */
async function routesProbeAddress(): Promise<boolean> {
  const server = net.createServer((socket) => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "0.0.0.0", () => resolve());
    });
    return await accepts((server.address() as net.AddressInfo).port, PROBE_ADDRESS);
  } catch {
    return false;
  } finally {
    server.close();
  }
}

/** Whether `host:port` accepts a TCP connection now. */
export function accepts(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** What one probe of an instance's port found. */
export type ProbeResult = "listening" | "loopback-only" | "closed";

/** Probes `port` as Cloud Run would, telling a loopback-only listener apart where the host allows. */
export async function probe(port: number): Promise<ProbeResult> {
  const host = await instanceAddress();
  if (await accepts(port, host)) return "listening";
  if (host !== FALLBACK_ADDRESS && (await accepts(port, FALLBACK_ADDRESS))) return "loopback-only";
  return "closed";
}
