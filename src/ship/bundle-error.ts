/**
 * @module
 * The error a program that cannot be shipped gets: kind `not-supported`, fatal, naming each cause the
 * bundler reported (file, line and text) and the documented way out, baking the program into the
 * worker image.
 */
import type { Message } from "esbuild";
import { errorOf, type BigmachineError } from "../errors.ts";

/** The way out that every such error points to. */
export const BAKE_INTO_IMAGE_HINT =
  "To run it anyway, bake the program and its dependencies into the worker image (build the image with cloudbuild.yaml; see docs/cloudrun.md) instead of shipping it from the driver.";

/** At most this many causes are spelled out; the rest are counted. */
const MAX_CAUSES = 8;

/** One bundler message as `file:line:column: text`. */
export function describeMessage(message: Pick<Message, "text" | "location">): string {
  const at = message.location ? `${message.location.file}:${message.location.line}:${message.location.column + 1}: ` : "";
  return `${at}${message.text}`;
}

/** Bundler errors, when `err` is a failed build; undefined for anything else. */
export function buildMessages(err: unknown): Message[] | undefined {
  const errors = (err as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) && errors.length > 0 ? (errors as Message[]) : undefined;
}

/**
 * The typed error for `entry` that could not be bundled into one file because of `messages`, with
 * `cause` (the bundler's own error) kept for inspection.
 */
export function unbundlableError(entry: string, messages: Pick<Message, "text" | "location">[], cause?: unknown): BigmachineError {
  const shown = messages.slice(0, MAX_CAUSES).map((m) => `  - ${describeMessage(m)}`);
  if (messages.length > MAX_CAUSES) shown.push(`  - and ${messages.length - MAX_CAUSES} more`);
  const message = `cannot ship ${entry}: it does not bundle into one self-contained file:\n${shown.join("\n")}\n${BAKE_INTO_IMAGE_HINT}`;
  return errorOf("not-supported", message, { severity: "fatal", cause });
}
