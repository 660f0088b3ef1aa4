/**
 * @module
 * What an image stands for here, where no container engine runs: the command that plays its
 * entrypoint and, optionally, the environment its Dockerfile's `ENV` lines would set. A mapping is
 * written either as the bare command (`["node", "server.js"]`) or as `{command, env}`.
 */

/** An image as a local command, optionally with the image's own environment (its `ENV` lines). */
export type ImageMapping = string[] | { command: string[]; env?: Record<string, string> };

/** A mapping in one shape. */
export interface ResolvedImage {
  command: string[];
  env: Record<string, string>;
}

/** Checks a mapping and puts it in one shape; throws a `TypeError` naming the image when it is unusable. */
export function resolveImageMapping(image: string, mapping: ImageMapping): ResolvedImage {
  const command = Array.isArray(mapping) ? mapping : mapping?.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((word) => typeof word === "string")) {
    throw new TypeError(`image ${image}: the command must be a non-empty list of strings`);
  }
  const env = Array.isArray(mapping) ? {} : (mapping.env ?? {});
  for (const [name, value] of Object.entries(env)) {
    if (name === "" || name.includes("=") || typeof value !== "string") {
      throw new TypeError(`image ${image}: env ${JSON.stringify(name)} must be a name without '=' and a string value`);
    }
  }
  return { command: [...command], env: { ...env } };
}
