import { runControlStoreConformance } from "../_control_conformance.ts";
import { runStoreConformance } from "../_conformance.ts";
import { MemoryStore } from "./mod.ts";

runStoreConformance("MemoryStore", (options) => Promise.resolve(new MemoryStore(options)));
runControlStoreConformance("MemoryStore", () => Promise.resolve(new MemoryStore()));
