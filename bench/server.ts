/**
 * @module
 * The server half of the RPC benchmark, run as a child process of `bench/rpc.ts`: a bigmachine RPC
 * endpoint, a raw WebSocket server and a plain HTTP server on loopback, each echoing small payloads and
 * streaming 64 KiB chunks, so the three can be compared on equal terms. Reports its ports over IPC and
 * exits when its parent disconnects.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { listen, RpcServer, type Dispatcher } from "../src/rpc/index.ts";
import { HIGH_WATER_BYTES, RAW_SINK_COMMAND, RAW_SINK_DONE, RAW_STREAM_COMMAND, type BenchPorts } from "./shared.ts";


const dispatcher: Dispatcher = {
  async dispatch(method, arg) {
    switch (method) {
      case "Bench.echo":
        return arg;
      case "Bench.stream": {
        const { count, size } = arg as { count: number; size: number };
        const chunk = new Uint8Array(size).fill(7);
        return (async function* () {
          for (let i = 0; i < count; i++) yield chunk;
        })();
      }
      case "Bench.sink": {
        let bytes = 0;
        for await (const chunk of arg as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
        return bytes;
      }
      default:
        throw new Error(`no method ${method}`);
    }
  },
};

/** Sends `count` copies of `chunk`, pausing while more than the high-water mark is queued. */
async function sendChunks(ws: WebSocket, chunk: Uint8Array, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (ws.bufferedAmount > HIGH_WATER_BYTES) {
      // The callback of a send fires once its data is written out: the closest thing to a drain event.
      await new Promise<void>((resolve) => ws.send(chunk, () => resolve()));
    } else {
      ws.send(chunk);
    }
  }
}

function serveRawWebSocket(ws: WebSocket): void {
  let sinkRemaining = 0;
  ws.on("message", (data: Buffer, isBinary) => {
    if (isBinary) {
      if (sinkRemaining > 0) {
        sinkRemaining -= data.byteLength;
        if (sinkRemaining <= 0) ws.send(RAW_SINK_DONE);
      } else {
        ws.send(data);
      }
      return;
    }
    const [command, count, size] = data.toString().split(" ");
    if (command === RAW_STREAM_COMMAND) void sendChunks(ws, new Uint8Array(Number(size)).fill(7), Number(count));
    if (command === RAW_SINK_COMMAND) sinkRemaining = Number(count) * Number(size);
  });
}

async function main(): Promise<void> {
  const rpc = await listen(new RpcServer({ dispatcher }));

  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  wss.on("connection", serveRawWebSocket);
  await new Promise((resolve) => wss.once("listening", resolve));

  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      res.writeHead(200, { "content-type": "application/x-msgpack", "content-length": body.byteLength });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));

  const ports: BenchPorts = {
    rpc: rpc.port,
    ws: (wss.address() as AddressInfo).port,
    http: (http.address() as AddressInfo).port,
  };
  process.send!(ports);
  process.once("disconnect", () => process.exit(0));
}

await main();
