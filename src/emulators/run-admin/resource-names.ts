/**
 * @module
 * Resource names of the Admin API (`projects/P/locations/L/services/S`, `…/operations/O`) and the rules
 * for the ids in them: service ids (letter first, lowercase letters, digits and hyphens, no trailing
 * hyphen, under 50 characters) and revision names (`SERVICE-SUFFIX`, a DNS label).
 */

/** A parent: `projects/P/locations/L`. */
export interface LocationName {
  project: string;
  location: string;
}

/** The longest service id Cloud Run accepts (ids must be under 50 characters). */
export const MAX_SERVICE_ID_LENGTH = 49;
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const SEGMENT = "([^/]+)";

/** `projects/P/locations/L`. */
export function locationName({ project, location }: LocationName): string {
  return `projects/${project}/locations/${location}`;
}

/** Splits `projects/P/locations/L`, or `undefined` if `name` is not of that form. */
export function parseLocationName(name: string): LocationName | undefined {
  const match = new RegExp(`^projects/${SEGMENT}/locations/${SEGMENT}$`).exec(name);
  return match ? { project: match[1]!, location: match[2]! } : undefined;
}

/** Splits `projects/P/locations/L/services/S`, or `undefined` if `name` is not of that form. */
export function parseServiceName(name: string): (LocationName & { serviceId: string }) | undefined {
  const match = new RegExp(`^projects/${SEGMENT}/locations/${SEGMENT}/services/${SEGMENT}$`).exec(name);
  return match ? { project: match[1]!, location: match[2]!, serviceId: match[3]! } : undefined;
}

/** Why `serviceId` is not a valid service id, or `undefined` if it is. */
export function serviceIdProblem(serviceId: string): string | undefined {
  if (serviceId.length <= MAX_SERVICE_ID_LENGTH && DNS_LABEL.test(serviceId)) return undefined;
  return (
    `Invalid value specified for service_id: "${serviceId}". It must be at most ${MAX_SERVICE_ID_LENGTH} characters, ` +
    "begin with a lowercase letter, contain only lowercase letters, digits and hyphens, and not end with a hyphen."
  );
}

/** Why `revision` cannot name a revision of service `serviceId`, or `undefined` if it can. */
export function revisionNameProblem(serviceId: string, revision: string): string | undefined {
  if (!revision.startsWith(`${serviceId}-`)) {
    return `Revision name "${revision}" must be prefixed by the name of the enclosing Service: "${serviceId}-".`;
  }
  if (revision.length > 63 || !DNS_LABEL.test(revision)) {
    return `Revision name "${revision}" must be a DNS label: at most 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen.`;
  }
  return undefined;
}

/** A revision name as Cloud Run generates it: `SERVICE-00002-x7k` (generation, then a random suffix). */
export function generatedRevisionName(serviceId: string, generation: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let suffix = "";
  for (let i = 0; i < 3; i++) suffix += alphabet[Math.floor(Math.random() * alphabet.length)];
  return `${serviceId}-${String(generation).padStart(5, "0")}-${suffix}`;
}
