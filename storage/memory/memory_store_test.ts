import { runControlStoreConformance } from "../testing/mod.ts";
import { runStoreConformance } from "../testing/mod.ts";
import { MemoryStore } from "./mod.ts";

runStoreConformance("MemoryStore", (options) => Promise.resolve(new MemoryStore(options)));
runControlStoreConformance("MemoryStore", () => Promise.resolve(new MemoryStore()));
