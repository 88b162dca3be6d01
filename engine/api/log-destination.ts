/**
 * Where the engine's log goes by default: file descriptor 2, written so that a log that cannot
 * be written never stops the engine. pino's own destination re-throws a write error (ENOSPC on
 * a full disk) as an uncaught exception, and its exit hook then retries the write forever, so
 * an engine whose stderr is a file on a full filesystem used to stop answering for good.
 */
import { writeSync } from "node:fs";

/** A pino destination: `write` takes one serialized line. */
export interface LogDestination {
  write(line: string): void;
  /** Lines the descriptor refused since the last one it took. */
  readonly droppedLines: number;
}

/**
 * A destination writing each line at once to `fd` (default 2). A line the descriptor refuses
 * (no space, a reader gone, a full non-blocking pipe) is dropped, never retried or buffered, so
 * logging neither throws nor blocks nor grows memory; the next line that goes through is
 * preceded by a warning saying how many were lost.
 */
export function fdLogDestination(fd = 2): LogDestination {
  let dropped = 0;
  let lastError = "";
  const writeAll = (text: string): void => {
    let buf = Buffer.from(text);
    while (buf.length > 0) buf = buf.subarray(writeSync(fd, buf));
  };
  return {
    write(line: string): void {
      try {
        if (dropped > 0) {
          writeAll(`${JSON.stringify({ level: 40, time: Date.now(), msg: `${dropped} log lines were lost: the log destination refused them (${lastError})` })}\n`);
          dropped = 0;
        }
        writeAll(line);
      } catch (err) {
        dropped++;
        lastError = (err as NodeJS.ErrnoException).code ?? String(err);
      }
    },
    get droppedLines() {
      return dropped;
    },
  };
}
