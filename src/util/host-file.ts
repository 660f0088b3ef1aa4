/**
 * @module
 * Streaming a file of this host, with failures as typed errors: what systems whose machines share the
 * driver's host (local, test) answer `System.read` with.
 */
import { createReadStream } from "node:fs";
import { errorOf } from "../errors.ts";

/** Yields the chunks of `filename`; a missing file fails with kind `not-exist`, an abort with `canceled`. */
export async function* readHostFile(filename: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of createReadStream(filename, { signal })) yield chunk as Buffer;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw errorOf("not-exist", `read ${filename}: no such file`, { severity: "fatal", cause: err });
    if ((err as Error).name === "AbortError") throw errorOf("canceled", `read ${filename} was canceled`, { cause: err });
    throw errorOf(code === "EACCES" ? "unauthorized" : "other", `read ${filename}: ${(err as Error).message}`, { severity: "fatal", cause: err });
  }
}
