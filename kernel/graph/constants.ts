/**
 * The graph's reserved node names.
 *
 * @module
 */

/** The virtual node every graph starts from. */
export const START = "__start__";
/** The virtual node every graph ends at. */
export const END = "__end__";
