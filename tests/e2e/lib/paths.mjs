// Where the end-to-end tests find the repository and write their artifacts.
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** Git-ignored: logs and screenshots of the last run. */
export const artifactsDir = path.join(repoRoot, "tests", "artifacts");
export const screenshotsDir = path.join(artifactsDir, "screenshots");
