// Helpers shared by the interop scripts.
//
// Every script prints machine-readable JSON lines on stdout, one event per
// line, and nothing else: library chatter (automerge-repo calls console.log on
// some error paths) is moved to stderr so the Go side can parse stdout
// strictly.

console.log = (...args) => console.error(...args)
console.info = (...args) => console.error(...args)
console.warn = (...args) => console.error(...args)

/** Converts values JSON cannot carry (bytes, bigints, Automerge counters). */
function replacer(_key, value) {
  if (value instanceof Uint8Array) {
    return { $bytes: Buffer.from(value).toString("base64") }
  }
  if (typeof value === "bigint") return value.toString()
  return value
}

/** Prints one JSON line on stdout. Pipes are synchronous in Node on Linux. */
export function emit(event) {
  process.stdout.write(JSON.stringify({ t: Date.now(), ...event }, replacer) + "\n")
}

/** Prints a fatal event and exits with the given non-zero code. */
export function die(message, code = 2) {
  emit({ event: "fatal", message: String(message) })
  process.exit(code)
}

export function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Resolves to the promise's value or rejects with a timeout error after ms. */
export function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`${what} timed out after ${ms} ms`)),
      ms,
    )
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export class TimeoutError extends Error {}

/** Parses an integer option, failing loudly on garbage. */
export function intOption(value, name) {
  const n = Number.parseInt(value, 10)
  if (!Number.isFinite(n)) die(`--${name}: not an integer: ${value}`)
  return n
}

/** Structural equality of JSON-like values. */
export function deepEqual(a, b) {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (typeof a !== "object") return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every(k => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
}
