import { runStoreConformance } from "../_conformance.ts";
import { MemoryStore } from "./mod.ts";

runStoreConformance("MemoryStore", (options) => Promise.resolve(new MemoryStore(options)));
