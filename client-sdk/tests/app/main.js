// A minimal app on the package: imported as `edgesync` (Vite) or by URL (plain page).
import { Repo, Counter, EdgeSyncError } from "edgesync";

async function main() {
  const repo = await Repo.open({ name: "package-check" });
  const doc = repo.create({ text: "hi", likes: new Counter(1) });
  doc.splice("text", 2, 0, "!");
  doc.increment("likes", 2);
  let threw = false;
  try {
    doc.set(["text", "x"], 1);
  } catch (error) {
    threw = error instanceof EdgeSyncError && error.code === "invalid_path";
  }
  await repo.flush();
  const value = doc.value();
  const ok = value.text === "hi!" && Number(value.likes) === 3 && value.likes instanceof Counter && threw;
  document.title = ok ? "ok" : `bad: ${JSON.stringify(value)} threw=${threw}`;
}

main().catch((error) => {
  document.title = `error: ${error && error.message}`;
});
