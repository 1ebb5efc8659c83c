/**
 * Values the kernel made of JSON it had checked: the storage codec only
 * stringifies them, without walking them again to check them. Only the
 * kernel marks values (a value read from outside, e.g. parsed from a
 * request, never is), so what a caller passes in is still checked.
 *
 * @module
 */

/** The marked values; weak, so a marked event is collected with its append. */
const CHECKED = new WeakSet<object>();

/**
 * Marks a value as made of checked JSON.
 *
 * @param value A value the kernel made only of checked JSON (and its own strings and numbers).
 * @returns The value.
 */
export function markCheckedJson<T extends object>(value: T): T {
  CHECKED.add(value);
  return value;
}

/**
 * Whether the kernel marked a value as made of checked JSON.
 *
 * @param value Any value.
 * @returns `true` for a marked value.
 */
export function isCheckedJson(value: unknown): boolean {
  return typeof value === "object" && value !== null && CHECKED.has(value);
}
