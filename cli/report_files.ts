/**
 * The files of saved reports, read and written the same way by `merge`,
 * `report` and `bench --html`/`--hlog`: a file that cannot be read, is not a
 * `bench --json` report, or cannot be written is one line naming it and exit
 * 20 ({@linkcode ReportFileError}); a missing -R or -W is exit 13, asked for
 * before a load is run rather than after.
 *
 * @example
 * ```ts
 * import { readReportFiles } from "./report_files.ts";
 *
 * const reports = await readReportFiles(["shard-0.json", "shard-1.json"], "merge");
 * console.log(reports.map(({ file, report }) => `${file}: ${report.operations}`));
 * ```
 *
 * @module
 */

import { type NamedReport, parseReport, ReportFileError } from "../bench/merge.ts";
import { describeOsError, MissingPermissionError } from "../net/errors.ts";

/**
 * The reports in `files`, each read and checked as `parseReport` checks it;
 * `verb` says in an error what could not be done ("cannot merge a.json: …").
 *
 * @example
 * ```ts
 * import { readReportFiles } from "./report_files.ts";
 *
 * await readReportFiles(["missing.json"], "plot"); // throws: cannot read missing.json: no such file
 * ```
 */
export function readReportFiles(files: string[], verb: string): Promise<NamedReport[]> {
  return Promise.all(files.map(async (file) => {
    let text;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) throw error; // exit 13, naming -R
      throw new ReportFileError(`cannot read ${file}: ${whyNot(error, "no such file")}`);
    }
    return parseReport(text, file, verb);
  }));
}

/**
 * Throws {@linkcode MissingPermissionError} unless `path` may be written:
 * asked before a load, so that a missing -W does not cost the run.
 *
 * @example
 * ```ts
 * import { requireWrite } from "./report_files.ts";
 *
 * requireWrite("run.hlog"); // throws unless run with -W
 * ```
 */
export function requireWrite(path: string): void {
  if (Deno.permissions.querySync({ name: "write", path }).state !== "granted") {
    throw new MissingPermissionError(
      `no write permission for "${path}": run with -W (--allow-write)`,
    );
  }
}

/**
 * Writes `text` to `path`; a folder that is not there, or any other failure,
 * is a {@linkcode ReportFileError} naming the file.
 *
 * @example
 * ```ts
 * import { writeReportFile } from "./report_files.ts";
 *
 * await writeReportFile("report.html", "<!DOCTYPE html>…");
 * ```
 */
export async function writeReportFile(path: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, text);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    throw new ReportFileError(`cannot write ${path}: ${whyNot(error, "no such folder")}`);
  }
}

/** Why a file operation failed, in a few words; `notFound` for what was not there. */
function whyNot(error: unknown, notFound: string): string {
  if (error instanceof Deno.errors.NotFound) return notFound;
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  // Deno's file errors end with " (os error N): readfile '…'": the line names the file already.
  return describeOsError(error).replace(/ \(os error \d+\).*$/, "");
}
