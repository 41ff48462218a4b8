// Writes config/dockgate.schema.json, the published JSON Schema of the config file, from the
// schema the loader validates with (src/config/schema.ts, built to dist/). Run `npm run schema`
// after changing the schema; test/unit/config-schema.test.ts fails while the file is stale.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { publishedSchema } from "../dist/config/schema.js";

const out = fileURLToPath(new URL("../config/dockgate.schema.json", import.meta.url));
writeFileSync(out, publishedSchema());
console.log(`wrote ${out}`);
