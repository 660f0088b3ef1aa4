// Preloaded into the test runner and every process it spawns (through NODE_OPTIONS): any attempt to
// resolve a Google host fails at once with a message naming the host, so a test that forgot to point a
// client at the emulators breaks loudly instead of hanging or reaching the network.
import dns from "node:dns";

const GOOGLE_HOST = /(^|\.)(googleapis\.com|google\.internal|google\.com|run\.app|gstatic\.com)$/i;

function blocked(host) {
  const err = new Error(`tests must not contact Google: lookup of ${host} blocked`);
  err.code = "EGOOGLEBLOCKED";
  return err;
}

const lookup = dns.lookup;
dns.lookup = function guardedLookup(host, ...rest) {
  if (typeof host === "string" && GOOGLE_HOST.test(host)) {
    const callback = rest[rest.length - 1];
    process.nextTick(callback, blocked(host));
    return {};
  }
  return lookup.call(this, host, ...rest);
};

const promiseLookup = dns.promises.lookup;
dns.promises.lookup = async function guardedPromiseLookup(host, ...rest) {
  if (typeof host === "string" && GOOGLE_HOST.test(host)) throw blocked(host);
  return promiseLookup.call(this, host, ...rest);
};
