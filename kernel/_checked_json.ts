/**
 * Values the kernel made of JSON it had checked: the storage codec only
 * stringifies them, without walking them again to check them. Only the
 * kernel marks values (a value read from outside, e.g. parsed from a
 * request, never is), so what a caller passes in is still checked.
 *
 * @module
 */

/** Returns what it is given, so that a subclass's fields are added to that value. */
class Adopting {
  constructor(value: object) {
    return value;
  }
}

/**
 * The mark: a private field added to the value. Only this module can add it
 * or see it; a copy of the value (spread, `structuredClone`, JSON) does not
 * carry it, JSON and deep equality do not see it, and it lives as long as the
 * value. A `WeakSet` did the same at about ten times the cost of each mark.
 */
class Checked extends Adopting {
  #checked = true;

  static has(value: object): boolean {
    return #checked in value;
  }
}

/**
 * Marks a value as made of checked JSON.
 *
 * @param value A value the kernel made only of checked JSON (and its own strings and numbers).
 * @returns The value.
 */
export function markCheckedJson<T extends object>(value: T): T {
  // A value that cannot take the field stays unmarked: it is checked where it is encoded.
  if (!Checked.has(value) && Object.isExtensible(value)) new Checked(value);
  return value;
}

/**
 * Whether the kernel marked a value as made of checked JSON.
 *
 * @param value Any value.
 * @returns `true` for a marked value.
 */
export function isCheckedJson(value: unknown): boolean {
  return typeof value === "object" && value !== null && Checked.has(value);
}
